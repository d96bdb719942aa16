"""Every message a loader report can carry is French (issue 13).

* One file holding every kind of item error goes through the public entry point
  (`validate_bytes`), and each message is checked exactly; so are the integration failures the
  report words, every file-level rejection, and the CLI's own lines.
* Guards walk the messages of large generated sets of invalid items and files (systematic, plus
  Hypothesis), and every Pydantic error type through `pydantic_reason`, refusing English words.
"""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, HttpUrl
from pydantic import ValidationError as PydanticError
from pydantic_core.core_schema import ErrorType
from typer.testing import CliRunner

from guichet.loader import (
    FileRejected,
    Model,
    Outcome,
    Report,
    Validation,
    pydantic_reason,
    validate_bytes,
)
from guichet.loader import _checks as checks
from guichet.loader._cli import app
from guichet.loader._messages import FALLBACK, REASONS
from guichet.loader._models import RULES
from guichet.loader._source import json_syntax_reason
from tests.loader import factories as f
from tests.loader.helpers import base_item, in_context

# ---- the English detector ------------------------------------------------------------------------

# Words of Pydantic's, the json module's and the OS's English messages. French words that are
# also English (date, type, format, code, client, version, application, transactions…) are left
# out: they are legitimate here.
ENGLISH = re.compile(
    r"\b(should|input|field|required|values?|valid|invalid|expecting|expected|must|string"
    r"|characters?|pattern|least|most|greater|less|than|equal|the|is|not|or|and|be|of|at|with"
    r"|delimiter|unterminated|extra|missing|error|allowed|dictionary|list|array|object|number"
    r"|integer|decimal|boolean|address|line|column|char|digits|exceeds|limit|unable|parse"
    r"|after|before|items?|empty|too|short|only|unknown|enclosed|quotes|property|name|key"
    r"|already|exists|file|found|such|directory|permission|denied|data|text)\b",
    re.IGNORECASE,
)
# What partners sent, echoed back, is not ours to translate: quoted ids, field names, codes and
# values (the generators below use no spaces in them), and JSON paths.
QUOTED = re.compile(r"'[^'\s]*'")
JSON_PATH = re.compile(r"\$[^\s)]*")


def english_words(message: str) -> list[str]:
    return ENGLISH.findall(JSON_PATH.sub("", QUOTED.sub("", message)))


def assert_french(messages: list[str]) -> None:
    leaks = {message: words for message in messages if (words := english_words(message))}
    assert not leaks, leaks


def test_the_detector_catches_the_former_english_reasons() -> None:
    former = [
        "Champ 'amt' dans transactions 'T1' invalide : Field required",
        "Champ 'email' dans clients 'x' invalide : value is not a valid email address",
        "Champ 'ref' dans transactions 'T1' invalide : Input should be a valid string",
        "Champ 'ccy' dans transactions 'T1' invalide : Input should be 'EUR', 'USD' or 'GBP'",
        "Champ 'id' dans transactions 'T1' invalide : String should have at most 255 characters",
        "Champ 'sirenId' dans declarants 'D1' invalide : String should match pattern '^\\d{9}$'",
        "Champ 'nbrPark' dans properties 'P1' invalide : Input should be greater than or equal "
        "to 0",
        "JSON invalide : Expecting value (ligne 1, colonne 1)",
        "JSON invalide : Exceeds the limit (4300 digits) for integer string conversion",
        "Fichier illisible : No such file or directory (x.json)",
    ]
    assert all(english_words(message) for message in former)
    assert (
        english_words("Champ 'Input' dans transactions 'should' invalide : champ obligatoire") == []
    )


# ---- one file with every kind of item error ------------------------------------------------------


def every_kind_of_error() -> dict[str, Any]:
    claire = f.client(
        "claire@example.org",
        declarants=[
            f.declarant(
                "D1",
                properties=[f.property_("P-NEST", declarantId="D-AUTRE")],
                associates=[f.associate("A-BAD", civility="MR")],
            ),
            f.declarant(
                "D-BAD",
                sirenId="12345678",
                nicId="1234a",
                legalStatusId="SARL",
                corporateName="",
                address=5,
                properties="aucune",
                debActDate="01/09/2023",
                taxCategoryId=True,
            ),
        ],
        properties=[
            f.property_("P-OK", declarantId="D1"),
            f.property_(
                "P-BAD",
                declarantId="D1",
                nbrRooms="2",
                nbrPark=-1,
                area="41,5",
                acquisitionDate="2023-02-30",
                ctry="France",
                siretId="123",
                taxRegime="34",
                streetName2=5,
                email=None,
                furnished="OUI",
            ),
            {"id": "P-DEL", "remove": "R"},
            f.property_("x" * 256),
            f.property_("P-OK"),
        ],
        associates=[f.associate("A-TOP")],
        transactions=[
            f.transaction("T-BAD", "P-OK", reqdExctnDt="05/02/2025", ccy="CHF", amt="12,50"),
            f.transaction("T-DEP", "P-BAD"),
            f.transaction("T-DEL", "P-DEL"),
            f.transaction("T-AUTRE", "P-BOB"),
            f.transaction("T-EXT", "P-EXTERNE"),
            ["pas", "un", "objet"],
            f.transaction("T-VIDE", ""),
        ],
        documents=[
            f.document(
                "DOC-BAD", propertyId="P-OK", year="23", fileLink="ftp://x.org/a.pdf", fileType=99
            ),
            f.document("DOC-Y", propertyId="P-OK", year=2023.5, fileLink="acte.pdf"),
            f.document("DOC-SANS"),
        ],
    )
    del claire["transactions"][0]["ref"]
    bob = f.client("bob@example.org", properties=[f.property_("P-BOB")])
    broken = {
        "client": {"email": "pas-une-adresse", "firstName": 5},
        "properties": [f.property_("P-C2")],
    }
    return f.header(
        clients=[
            claire,
            bob,
            broken,
            "pas un objet",
            {"transactions": {}},
            f.client("Claire@Example.org"),
        ]
    )


_TAX_REGIMES = ", ".join(
    f"'{n}'" for n in (*range(1, 34), *range(35, 46), *range(90, 95))
)  # then "ou '95'"
EXPECTED = [
    # declarants
    "Champ 'legalStatusId' dans declarants 'D-BAD' invalide : valeur non autorisée "
    "(attendu : '5426', '5710', '1000', '2110', '6540' ou '6599')",
    "Champ 'corporateName' dans declarants 'D-BAD' invalide : ne doit pas être vide",
    "Champ 'address' dans declarants 'D-BAD' invalide : une chaîne de caractères est attendue",
    "Champ 'sirenId' dans declarants 'D-BAD' invalide : 9 chiffres attendus (SIREN)",
    "Champ 'nicId' dans declarants 'D-BAD' invalide : 5 chiffres attendus (NIC)",
    "Champ 'properties' dans declarants 'D-BAD' invalide : un tableau JSON est attendu",
    "Champ 'debActDate' dans declarants 'D-BAD' invalide : "
    "une date au format AAAA-MM-JJ est attendue",
    "Champ 'taxCategoryId' dans declarants 'D-BAD' invalide : valeur non autorisée "
    "(attendu : '1', '2', '3', '4' ou '5')",
    # properties
    "Champ 'ctry' dans properties 'P-BAD' invalide : "
    "code pays en 2 lettres majuscules attendu (ex. FR)",
    "Champ 'email' dans properties 'P-BAD' invalide : une chaîne de caractères est attendue",
    "Champ 'acquisitionDate' dans properties 'P-BAD' invalide : "
    "date inexistante dans le calendrier (format AAAA-MM-JJ)",
    "Champ 'nbrRooms' dans properties 'P-BAD' invalide : un nombre entier est attendu",
    "Champ 'nbrPark' dans properties 'P-BAD' invalide : doit être supérieur ou égal à 0",
    "Champ 'area' dans properties 'P-BAD' invalide : "
    'un nombre décimal est attendu (nombre JSON, ou texte comme "12.50")',
    "Champ 'siretId' dans properties 'P-BAD' invalide : 14 chiffres attendus (SIRET)",
    "Champ 'taxRegime' dans properties 'P-BAD' invalide : valeur non autorisée "
    f"(attendu : {_TAX_REGIMES} ou '95')",
    "Champ 'streetName2' dans properties 'P-BAD' invalide : une chaîne de caractères est attendue",
    "Champ 'furnished' dans properties 'P-BAD' invalide : valeur non autorisée "
    "(attendu : 'O' ou 'N')",
    "Champ 'id' dans properties '$.clients[0].properties[3]' invalide : "
    "trop long (au plus 255 caractères)",
    "Champ 'id' dans properties 'P-OK' invalide : "
    "identifiant déjà utilisé dans ce fichier ($.clients[0].properties[0])",
    # associates
    "Champ 'civility' dans associates 'A-BAD' invalide : valeur non autorisée "
    "(attendu : 'M', 'MME' ou 'SOC')",
    "Élément associates 'A-TOP' invalide : "
    "un associé se déclare dans son déclarant (declarants[].associates)",
    # documents
    "Champ 'fileType' dans documents 'DOC-BAD' invalide : valeur non autorisée "
    "(attendu : '26', '27', '42', '53', '55', '56', '58', '59', '60' ou '61')",
    "Champ 'year' dans documents 'DOC-BAD' invalide : "
    'une année sur 4 chiffres est attendue ("2023" ou 2023)',
    "Champ 'fileLink' dans documents 'DOC-BAD' invalide : "
    "une URL absolue en http ou https est attendue",
    "Champ 'year' dans documents 'DOC-Y' invalide : "
    'une année sur 4 chiffres est attendue ("2023" ou 2023)',
    "Champ 'fileLink' dans documents 'DOC-Y' invalide : "
    "une URL absolue en http ou https est attendue",
    "Champ 'propertyId' dans documents 'DOC-SANS' invalide : "
    "champ obligatoire (propertyId ou declarantId)",
    # transactions
    "Champ 'ref' dans transactions 'T-BAD' invalide : champ obligatoire",
    "Champ 'reqdExctnDt' dans transactions 'T-BAD' invalide : "
    "une date au format AAAA-MM-JJ est attendue",
    "Champ 'amt' dans transactions 'T-BAD' invalide : "
    'un nombre décimal est attendu (nombre JSON, ou texte comme "12.50")',
    "Champ 'ccy' dans transactions 'T-BAD' invalide : valeur non autorisée "
    "(attendu : 'EUR', 'USD' ou 'GBP')",
    "Champ 'id-prty' dans transactions 'T-DEP' invalide : propriété 'P-BAD' invalide",
    "Champ 'id-prty' dans transactions 'T-DEL' invalide : "
    "propriété 'P-DEL' supprimée par ce fichier (remove: R)",
    "Champ 'id-prty' dans transactions 'T-AUTRE' invalide : "
    "propriété 'P-BOB' appartient à un autre client de ce fichier (bob@example.org)",
    "Champ 'id-prty' dans transactions 'T-EXT' invalide : "
    "propriété 'P-EXTERNE' absente de ce fichier",
    "Élément transactions '$.clients[0].transactions[5]' invalide : un objet JSON est attendu",
    "Champ 'id-prty' dans transactions 'T-VIDE' invalide : ne doit pas être vide",
    # client entries
    "Champ 'client.lastName' dans clients '$.clients[2]' invalide : champ obligatoire",
    "Champ 'client.email' dans clients '$.clients[2]' invalide : "
    "adresse e-mail incorrecte (attendu : nom@domaine.fr)",
    "Champ 'client.firstName' dans clients '$.clients[2]' invalide : "
    "une chaîne de caractères est attendue",
    "Champ 'client' dans properties 'P-C2' invalide : client '$.clients[2]' invalide",
    "Élément clients '$.clients[3]' invalide : un objet JSON est attendu",
    "Champ 'client' dans clients '$.clients[4]' invalide : champ obligatoire",
    "Champ 'transactions' dans clients '$.clients[4]' invalide : un tableau JSON est attendu",
    "Champ 'client.email' dans clients 'Claire@Example.org' invalide : "
    "client déjà présent dans ce fichier ($.clients[0])",
]
WARNING = (
    "Champ 'declarantId' dans properties 'P-NEST' ignoré : "
    "'D-AUTRE' contredit l'imbrication dans déclarant 'D1', qui fait foi"
)
ALL_CODES = {
    "required", "type", "length", "enum", "pattern", "date", "url", "email", "range",
    "duplicate", "reference", "dependency", "client", "layout", "removed", "ignored",
}  # fmt: skip


def every_kind_validation() -> Validation:
    body = json.dumps(every_kind_of_error()).encode()
    return validate_bytes(body, self_contained=True)


def test_every_kind_of_item_error_has_its_exact_french_message() -> None:
    validation = every_kind_validation()
    assert [issue.message for issue in validation.issues()] == EXPECTED
    assert [issue.message for issue in validation.warnings] == [WARNING]
    report = Report(validation).to_json()
    assert [error["error"] for error in report["errors"]] == EXPECTED


def test_the_file_covers_every_code_and_every_field_problem() -> None:
    """A new code or problem constant must be added to the file above (and so worded)."""
    validation = every_kind_validation()
    issues = [*validation.issues(), *validation.warnings]
    assert {issue.code for issue in issues} == ALL_CODES
    reasons = {issue.reason for issue in issues}
    constants = [
        value
        for name, value in vars(checks).items()
        if name.isupper() and type(value) is tuple and len(value) == 2
    ]
    assert len(constants) >= 12
    assert [problem for problem in constants if problem[1] not in reasons] == []


def test_integration_failures_are_worded_in_french() -> None:
    doc = f.header(
        clients=[
            f.client(
                "claire@example.org",
                properties=[f.property_("P1")],
                transactions=[f.transaction("T1", "P1"), f.transaction("T2", "P-STOCK")],
            ),
            f.client("bob@example.org", properties=[f.property_("P2")]),
        ]
    )
    validation = validate_bytes(json.dumps(doc).encode())
    report = Report(validation)
    claire, bob = validation.clients
    t2 = claire.items_of(Model.TRANSACTIONS)[1]
    report.fail_unknown_reference(t2, t2.external_refs[0])
    report.fail(claire.items_of(Model.PROPERTIES)[0], "adresse refusée par le cadastre")
    report.fail(bob, "compte impossible à créer")
    assert report.outcome(bob.items[0]) is Outcome.FAILED
    assert [error["error"] for error in report.to_json()["errors"]] == [
        "Champ 'id-prty' dans transactions 'T2' invalide : propriété 'P-STOCK' inconnue",
        "Élément properties 'P1' en échec : adresse refusée par le cadastre",
        "Champ 'id-prty' dans transactions 'T1' invalide : propriété 'P1' en échec",
        "Élément clients 'bob@example.org' en échec : compte impossible à créer",
        "Champ 'client' dans properties 'P2' invalide : client 'bob@example.org' en échec",
    ]


# ---- file-level rejections -----------------------------------------------------------------------

HINT = (
    " ; le contenu doit être un document JSON brut (Content-Type: application/json),"
    " pas un CSV ni un formulaire multipart"
)
MULTIPART = (
    b'--X-BOUNDARY\r\nContent-Disposition: form-data; name="file"; filename="l.json"\r\n'
    b"Content-Type: application/json\r\n\r\n{}\r\n--X-BOUNDARY--\r\n"
)
REJECTIONS = [
    (b"id;amt;ccy\nT1;12.50;EUR\n", f"JSON invalide : valeur attendue (ligne 1, colonne 1){HINT}"),
    (MULTIPART, f"JSON invalide : valeur attendue (ligne 1, colonne 1){HINT}"),
    (b'"id","amt"\n"T1",12.5\n', f"JSON invalide : données en trop après le document JSON "
     f"(ligne 1, colonne 5){HINT}"),
    (b"", f"JSON invalide : contenu vide{HINT}"),
    (b"PK\x03\x04\x14\x00\x06\x00\xa0\xff", f"UTF-8 invalide à l'octet 8{HINT}"),
    (b'{"a": 1,}', "JSON invalide : nom de clé entre guillemets attendu (ligne 1, colonne 9)"),
    (b'{"a" 1}', "JSON invalide : deux-points ':' attendu (ligne 1, colonne 6)"),
    (b'{"a": 1 "b": 2}', "JSON invalide : virgule ',' attendue (ligne 1, colonne 9)"),
    (b'{"a": "x', "JSON invalide : chaîne de caractères non terminée (ligne 1, colonne 7)"),
    (b'{"a": "\x01"}', "JSON invalide : caractère de contrôle interdit dans une chaîne "
     "(ligne 1, colonne 8)"),
    (b'{"a": "\\q"}', "JSON invalide : séquence d'échappement incorrecte (ligne 1, colonne 8)"),
    (b'{"a": "\\u12"}', "JSON invalide : séquence d'échappement \\uXXXX incorrecte "
     "(ligne 1, colonne 9)"),
    (b'{}\n{}', "JSON invalide : données en trop après le document JSON (ligne 2, colonne 1)"),
    (b'{"a": NaN}', "JSON invalide : NaN n'est pas une valeur JSON"),
    (b'{"a": -Infinity}', "JSON invalide : -Infinity n'est pas une valeur JSON"),
    (b'{"a": ' + b"9" * 5000 + b"}",
     "JSON invalide : nombre entier trop long (plus de 4300 chiffres)"),
    (b'{"a": "\\u0000"}', "caractère NUL (\\u0000) interdit dans le texte"),
    (b'{"a": "\\ud800"}', "caractère Unicode invalide (demi-paire de substitution isolée)"),
    (b"[" * 100 + b"]" * 100, "imbrication trop profonde (plus de 64 niveaux)"),
    (b"[]", "le document doit être un objet JSON (en-tête à la racine)"),
    (json.dumps({"inigPtynm": "acme"}).encode(),
     "Champ 'apiKey' dans l'en-tête invalide : champ obligatoire\n"
     "Champ 'creDtTm' dans l'en-tête invalide : champ obligatoire\n"
     "Champ 'versionId' dans l'en-tête invalide : champ obligatoire"),
    (json.dumps(f.header(inigPtynm="", apiKey=7)).encode(),
     "Champ 'inigPtynm' dans l'en-tête invalide : ne doit pas être vide\n"
     "Champ 'apiKey' dans l'en-tête invalide : une chaîne de caractères est attendue"),
    (json.dumps(f.header(versionId="1.0", creDtTm="hier")).encode(),
     "Champ 'creDtTm' dans l'en-tête invalide : 'hier' n'est pas une date ISO 8601\n"
     "Champ 'versionId' dans l'en-tête invalide : version '1.0' non prise en charge "
     "(attendu : '2.0')"),
    (json.dumps(f.header(transactions={})).encode(),
     "Champ 'transactions' à la racine invalide : un tableau JSON est attendu"),
    (json.dumps(f.header(clients=[], transactions=[f.transaction()])).encode(),
     "sections transactions à la racine et 'clients' à la fois : "
     "placer chaque section dans son entrée de 'clients'"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "errors"), REJECTIONS, ids=range(len(REJECTIONS)))
def test_file_rejections_are_worded_in_french(body: bytes, errors: str) -> None:
    with pytest.raises(FileRejected) as caught:
        validate_bytes(body)
    assert caught.value.errors == errors
    assert_french([caught.value.message, caught.value.errors])


def test_every_json_module_message_is_translated() -> None:
    messages = [
        "Expecting value",
        "Expecting property name enclosed in double quotes",
        "Expecting ':' delimiter",
        "Expecting ',' delimiter",
        "Unterminated string starting at",
        "Invalid control character at",
        "Invalid control character '\\x01' at",
        "Invalid \\escape",
        "Invalid \\escape: 'q'",
        "Invalid \\uXXXX escape",
        "Extra data",
        "Illegal trailing comma before end of object",
        "Illegal trailing comma before end of array",
    ]
    reasons = [json_syntax_reason(message) for message in messages]
    assert "syntaxe incorrecte" not in reasons
    assert json_syntax_reason("Some future message") == "syntaxe incorrecte"
    assert_french(reasons)


# ---- the CLI's own lines -------------------------------------------------------------------------


def test_cli_unreadable_file_reasons_are_french(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["validate", str(tmp_path / "absent.json")])
    assert "Fichier illisible : fichier introuvable" in missing.output
    directory = runner.invoke(app, ["validate", str(tmp_path)])
    assert directory.exit_code == 2
    assert "Fichier illisible : c'est un dossier, pas un fichier" in directory.output
    # The path is the caller's (pytest's is "pytest-of-root"), not ours to translate.
    assert_french([result.output.replace(str(tmp_path), "") for result in (missing, directory)])


def test_cli_rejection_lines_are_french(tmp_path: Path) -> None:
    path = tmp_path / "loader.csv"
    path.write_bytes(b"id;amt\nT1;12\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "Fichier refusé (WrongFormat) : JSON malformé" in result.output
    assert "pas un CSV ni un formulaire multipart" in result.output


# ---- guards over generated invalid input ---------------------------------------------------------

BAD_VALUES: list[Any] = [
    None, True, False, 0, -1, 7, 1.5, -2.0, 1e300, "", " ", "x", "R", "O", "FR", "2023",
    "2023-02-30", "05/02/2025", "2025-13-01", "12,50", "1e3", "ftp://x.org/a", "https://",
    "a@b", "@b.fr", "x" * 300, [], [1, "a"], {}, {"a": 1},
]  # fmt: skip


def generated_items() -> dict[str, Any]:
    """Every known field of every model set to every bad value, and every required key
    removed, in one flat file (a transaction or document variant keeps its link to P1)."""
    variants: dict[Model, list[Any]] = {model: [] for model in RULES}
    for model, rules in RULES.items():
        for field in sorted(rules.checks):
            for n, value in enumerate(BAD_VALUES):
                item = base_item(model, f"{model}-{field}-{n}")
                item[field] = value
                variants[model].append(item)
        for field in rules.required:
            item = base_item(model, f"{model}-sans-{field}")
            del item[field]
            variants[model].append(item)
        variants[model].extend(BAD_VALUES)  # items that are not objects
    host = f.declarant("D-HOST", associates=variants[Model.ASSOCIATES])
    return f.header(
        declarants=[host, *variants[Model.DECLARANTS]],
        properties=[f.property_("P1"), *variants[Model.PROPERTIES]],
        transactions=variants[Model.TRANSACTIONS],
        documents=variants[Model.DOCUMENTS],
    )


def all_messages(validation: Validation) -> list[str]:
    report = Report(validation)
    for item in list(report.pending()):
        for reference in item.external_refs:
            report.fail_unknown_reference(item, reference)
            break
    for entry in validation.clients:
        if entry.is_valid:
            report.fail(entry, "compte impossible à créer")
    errors = [error.error for error in report.errors()]  # all of them: to_json() lists 1,000
    return [*errors, *(warning.message for warning in validation.warnings)]


@pytest.mark.parametrize("self_contained", [False, True])
def test_generated_invalid_flat_file_speaks_french(self_contained: bool) -> None:
    body = json.dumps(generated_items()).encode()
    validation = validate_bytes(body, self_contained=self_contained)
    messages = all_messages(validation)
    assert len(messages) > 2_000
    assert_french(messages)


def test_generated_invalid_clients_file_speaks_french() -> None:
    flat = generated_items()
    sections = {key: flat.pop(key) for key in ("declarants", "properties", "transactions")}
    entries: list[Any] = [
        {"client": {"email": "claire@example.org", "firstName": "C", "lastName": "M"}, **sections},
        {"client": {"email": "bob@example.org", "firstName": "B", "lastName": "M"},
         "documents": flat.pop("documents")},
        *({"client": value} for value in BAD_VALUES),
        *({"client": {"email": value, "firstName": value}} for value in BAD_VALUES),
        *BAD_VALUES,
    ]  # fmt: skip
    validation = validate_bytes(json.dumps(f.header(clients=entries)).encode())
    messages = all_messages(validation)
    assert len(messages) > 2_000
    assert_french(messages)


def test_generated_broken_files_speak_french() -> None:
    """Every prefix of a valid file, every byte of it replaced by a JSON-breaking one, and every
    header key given every bad value: each rejection is French."""
    valid = json.dumps(f.header(properties=[f.property_()], transactions=[f.transaction()]))
    bodies = [valid[:n].encode() for n in range(len(valid))]
    for n in range(0, len(valid), 3):
        bodies += [(valid[:n] + char + valid[n + 1 :]).encode() for char in ('"', "}", "\\", ",")]
    for key in ("inigPtynm", "apiKey", "creDtTm", "versionId"):
        bodies += [json.dumps(f.header(**{key: value})).encode() for value in BAD_VALUES]
    messages = []
    for body in bodies:
        try:
            validation = validate_bytes(body)
        except FileRejected as exc:
            messages += [exc.message, *exc.details]
        else:
            messages += all_messages(validation)
    assert len(messages) > 1_000
    assert_french(messages)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet="aé1-.:/@ ", max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text("abc", max_size=4), children)
    ),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from(list(RULES)),
    changes=st.dictionaries(
        st.sampled_from(sorted({key for rules in RULES.values() for key in rules.checks})),
        json_values,
        min_size=1,
        max_size=4,
    ),
)
def test_random_field_values_speak_french(model: Model, changes: dict[str, Any]) -> None:
    doc = in_context(model, {**base_item(model, "X1"), **changes})
    validation = validate_bytes(json.dumps(doc).encode(), self_contained=True)
    assert_french(all_messages(validation))


# ---- Pydantic errors -----------------------------------------------------------------------------


class Sample(BaseModel):
    name: str
    count: int
    ratio: float
    url: HttpUrl | None = None
    kind: typing.Literal["A", "H", "CL"] = "A"
    rooms: int = Field(default=0, ge=0)
    code: str = Field(default="12", min_length=2, max_length=3, pattern=r"^\d+$")
    tags: list[int] = Field(default_factory=list, max_length=1)
    owner: dict[str, int] = Field(default_factory=dict)


def pydantic_errors(data: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(PydanticError) as caught:
        Sample.model_validate(data)
    return [dict(error) for error in caught.value.errors()]


def test_real_pydantic_errors_get_their_french_reason() -> None:
    errors = pydantic_errors(
        {"count": "x", "ratio": "y", "url": "ftp:/", "kind": "Z", "rooms": -1, "code": "a",
         "tags": [1, 2], "owner": []}
    )  # fmt: skip
    assert {error["type"]: pydantic_reason(error) for error in errors} == {
        "missing": "champ obligatoire",
        "int_parsing": "un nombre entier est attendu",
        "float_parsing": "un nombre est attendu",
        "url_parsing": "une URL absolue est attendue (ex. https://exemple.fr/fichier.pdf)",
        "literal_error": "valeur non autorisée (attendu : 'A', 'H' ou 'CL')",
        "greater_than_equal": "doit être supérieur ou égal à 0",
        "string_too_short": "trop court (au moins 2 caractères)",
        "too_long": "trop d'éléments (au plus 1)",
        "dict_type": "un objet JSON est attendu",
    }
    assert pydantic_reason(pydantic_errors({"name": 1, "count": 1, "ratio": 1})[0]) == (
        "une chaîne de caractères est attendue"
    )
    long_code = pydantic_errors({"name": "n", "count": 1, "ratio": 1, "code": "1234"})
    assert [pydantic_reason(error) for error in long_code] == ["trop long (au plus 3 caractères)"]
    bad_code = pydantic_errors({"name": "n", "count": 1, "ratio": 1, "code": "ab"})
    assert [pydantic_reason(error) for error in bad_code] == [
        "format incorrect (motif attendu : ^\\d+$)"
    ]


def test_pydantic_email_and_custom_errors_stay_french() -> None:
    email = {
        "type": "value_error",
        "msg": "value is not a valid email address: An email address must have an @-sign.",
        "ctx": {"reason": "An email address must have an @-sign."},
    }
    assert pydantic_reason(email) == "adresse e-mail incorrecte (attendu : nom@domaine.fr)"
    custom = {"type": "value_error", "msg": "Value error, must be positive", "ctx": {}}
    assert pydantic_reason(custom) == FALLBACK
    assert pydantic_reason({"type": "no_such_type_yet"}) == FALLBACK
    assert pydantic_reason({"type": "greater_than_equal", "ctx": {}}) == FALLBACK


# A context carrying every key Pydantic's message templates use, with English-looking values
# where Pydantic would give English (``expected`` lists are joined with "or").
SAMPLE_CTX: dict[str, Any] = {
    "min_length": 2, "max_length": 3, "pattern": "^x$", "ge": 0, "gt": 0, "le": 9, "lt": 9,
    "multiple_of": 2, "expected": "'A' or 'B'", "expected_schemes": "'http' or 'https'",
    "discriminator": "'kind'", "expected_tags": "'a' or 'b'", "tag": "z",
    "max_digits": 5, "decimal_places": 2, "whole_digits": 3, "expected_version": 4,
    "tz_expected": 3600, "actual_length": 4,
}  # fmt: skip


@pytest.mark.parametrize("error_type", typing.get_args(ErrorType))
def test_every_pydantic_error_type_has_a_french_reason(error_type: str) -> None:
    with_ctx = pydantic_reason({"type": error_type, "ctx": SAMPLE_CTX, "msg": "Input should be"})
    without_ctx = pydantic_reason({"type": error_type, "msg": "Input should be"})
    assert_french([with_ctx, without_ctx])
    if error_type in REASONS and REASONS[error_type] != FALLBACK:
        assert with_ctx != FALLBACK, error_type
