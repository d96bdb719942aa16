"""``guichet bal diff OLD NEW [--json]``: what changed between two BAL files.

A short French summary (counts, voies, first modifications), or with ``--json`` the JSON of
issue #15 (``summary``, ``adresses: {added, removed, modified}``) streamed on stdout. Exit
status 0, or 2 with one French line on stderr when a file cannot be read.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from guichet.bal._gc import gc_paused

if TYPE_CHECKING:  # imported when a diff runs: `guichet bal validate` does not pay for them
    from guichet.bal._diff_result import BalDiff

EXIT_OK, EXIT_UNREADABLE = 0, 2
_SHOWN = 5
_JSON_BATCH = 2_000
_SIDES = {"old": "ancien fichier", "new": "nouveau fichier"}


def run_diff(old: Path, new: Path, as_json: bool) -> NoReturn:
    """The command (typer's ``diff`` calls it too): prints, then exits with its status."""
    # the collector stays off until the process exits (inside the block): turning it back on
    # after the diff would scan its million objects once, for nothing (~0.1 s)
    from guichet.bal._diff import diff
    from guichet.bal._diff_open import UnreadableBalError

    with gc_paused():
        try:
            result = diff(old, new)
        except UnreadableBalError as exc:
            path = old if exc.side == "old" else new
            side = _SIDES.get(exc.side or "", "fichier")
            print(f"Différence impossible : {side} « {path} » : {exc.message}", file=sys.stderr)
            _exit(EXIT_UNREADABLE)
        if as_json:
            write_json(result, sys.stdout)
        else:
            sys.stdout.write(summary_text(result))
        _exit(EXIT_OK)


def run_fast_diff(args: Sequence[str]) -> None:
    """``guichet bal diff OLD NEW [--json]`` without typer's parsing (~80 ms of start-up);
    anything else (help, unknown option) returns at once for typer to handle."""
    rest = list(args)
    as_json = "--json" in rest
    if as_json:
        rest.remove("--json")
    if len(rest) != 2 or any(not arg or arg.startswith("-") for arg in rest):
        return
    run_diff(Path(rest[0]), Path(rest[1]), as_json)


def summary_text(result: BalDiff) -> str:
    """The readable summary printed without ``--json``."""
    a, v = result.summary.adresses, result.summary.voies
    lines = [
        f"Adresses : {_n(a.added)} ajoutée(s), {_n(a.removed)} supprimée(s), "
        f"{_n(a.modified)} modifiée(s), {_n(a.unchanged)} inchangée(s)",
        f"Voies : {_n(v.added)} ajoutée(s), {_n(v.removed)} supprimée(s), "
        f"{_n(v.renamed)} renommée(s)",
    ]
    for renamed in result.voies.renamed[:_SHOWN]:
        lines.append(f"  renommée : « {renamed.old.name} » → « {renamed.new.name} »")
    for voie in result.voies.added[:_SHOWN]:
        lines.append(f"  ajoutée : « {voie.name} » ({voie.commune})")
    for voie in result.voies.removed[:_SHOWN]:
        lines.append(f"  supprimée : « {voie.name} » ({voie.commune})")
    if a.modified:
        lines.append("Premières adresses modifiées :")
    for modification in result.modified[:_SHOWN]:
        changes = ", ".join(
            f"{name} « {old} » → « {new} »" for name, (old, new) in modification.changes.items()
        )
        lines.append(f"  {_key_text(modification.key)} : {changes}")
    if not a.added and not a.removed and not a.modified:
        lines.append("Aucune différence (date_der_maj n’est pas comparée).")
    return "\n".join(lines) + "\n"


def _n(count: int) -> str:
    return f"{count:,}".replace(",", "\u202f")  # French thousands separator


def _key_text(key: dict[str, Any]) -> str:
    if "id_ban_adresse" in key:
        return f"id {key['id_ban_adresse']}"
    suffixe = f" {key['suffixe']}" if key.get("suffixe") else ""
    return f"{key['numero']}{suffixe} {key['voie']} ({key['commune_insee']})"


def write_json(result: BalDiff, out: TextIO) -> None:
    """``json.dumps(result.to_json())``, written list by list in batches (250k rows of
    modifications would otherwise be held twice, as objects and as text)."""
    out.write('{"summary": ' + json.dumps(result.summary.to_json()) + ', "adresses": {')
    lists: list[tuple[str, Iterable[Any]]] = [
        ("added", result.added),
        ("removed", result.removed),
        ("modified", (m.to_json() for m in result.modified)),
    ]
    for position, (name, items) in enumerate(lists):
        out.write(("" if position == 0 else ", ") + f'"{name}": [')
        separator = ""
        iterator = iter(items)
        while batch := list(islice(iterator, _JSON_BATCH)):
            out.write(separator + json.dumps(batch, ensure_ascii=False)[1:-1])
            separator = ", "
        out.write("]")
    out.write("}}\n")


def _exit(status: int) -> NoReturn:
    """As ``guichet`` (the real stdout and stderr): exit at once once flushed, skipping the
    teardown of millions of objects; under a test runner, a ``SystemExit`` (which typer's
    runner records as the exit code)."""
    out, err = sys.__stdout__, sys.__stderr__
    if out is not None and err is not None and sys.stdout is out and sys.stderr is err:
        out.flush()
        err.flush()
        os._exit(status)
    raise SystemExit(status)
