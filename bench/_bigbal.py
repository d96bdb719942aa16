"""A ~50 MB BAL of one commune (Bruz, 35047), valid, built by replicating the real Bruz BAL.

Replica k renames every street (`… k`) and gives it a new voie code, so that addresses stay
unique and `cle_interop` consistent; the `uid_adresse` column (BAN ids) is dropped.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

TEMPLATE = Path("/work/shared/bal/corpus/ecosystem/aitf_bal_35047_bruz_v1.3.csv")
LIMIT = 50_000_000


def build(limit: int = LIMIT - 1000) -> bytes:
    text = TEMPLATE.read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    header, body = rows[0], rows[1:]
    drop = header.index("uid_adresse")
    col = {name: i for i, name in enumerate(header)}
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow([h for i, h in enumerate(header) if i != drop])
    codes: dict[tuple[int, str], str] = {}
    size, replica = 0, 0
    while True:
        chunk = io.StringIO()
        chunk_writer = csv.writer(chunk, delimiter=";", lineterminator="\n")
        for row in body:
            insee, voie, numero, *rest = row[col["cle_interop"]].split("_")
            code = codes.setdefault((replica, voie), f"{len(codes) + 1:04x}")
            new = list(row)
            new[col["cle_interop"]] = "_".join([insee, code, numero, *rest])
            if replica:
                new[col["voie_nom"]] = f"{row[col['voie_nom']]} {replica}"
                for name in ("voie_nom_bre", "lieudit_complement_nom"):
                    if name in col and new[col[name]]:
                        new[col[name]] = f"{new[col[name]]} {replica}"
            chunk_writer.writerow([v for i, v in enumerate(new) if i != drop])
        data = chunk.getvalue()
        if size + len(data.encode()) > limit:
            break
        out.write(data)
        size += len(data.encode())
        replica += 1
    return out.getvalue().encode()


if __name__ == "__main__":
    import datetime as dt
    import time

    from guichet.bal import validate

    data = build()
    start = time.perf_counter()
    report = validate(data, today=dt.date.today())
    print(
        len(data),
        report.row_count,
        report.is_valid,
        [e for e in report.profil_errors() if e["level"] == "E"][:5],
        round(time.perf_counter() - start, 1),
        "s",
    )
