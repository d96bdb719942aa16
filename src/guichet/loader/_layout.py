"""The two layouts: flat sections at the root, or ``clients[]`` entries each with its own sections.

A flat file becomes one implicit entry (the partner's own account). A file that mixes both is
refused: which part would win is ambiguous. Entry-level problems (bad ``client`` block, a section
that is not an array) fail that entry only, as the contract says.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from guichet.loader import _checks as c
from guichet.loader._errors import InvalidStructure
from guichet.loader._items import Client, ClientEntry, Issue, Item
from guichet.loader._models import CLIENT_RULES, Model

SECTIONS = (
    Model.DECLARANTS,
    Model.PROPERTIES,
    Model.ASSOCIATES,
    Model.TRANSACTIONS,
    Model.DOCUMENTS,
)
CLIENTS_KEY = "clients"


class Layout(StrEnum):
    FLAT = "flat"
    CLIENTS = "clients"


def read_entries(document: dict[str, Any]) -> tuple[Layout, list[ClientEntry]]:
    """Split a header-checked document into client entries with their items collected.

    Raises `InvalidStructure` when the sections themselves are malformed at the root.
    """
    present = [model for model in SECTIONS if model.value in document]
    problems = [
        f"Champ '{model}' à la racine invalide : {c.NOT_LIST[1]}"
        for model in present
        if type(document[model.value]) is not list
    ]
    if CLIENTS_KEY not in document:
        if problems:
            raise InvalidStructure(problems)
        entry = ClientEntry(index=0, path="$")
        entry.items = _collect(entry, document, "$")
        return Layout.FLAT, [entry]
    if type(document[CLIENTS_KEY]) is not list:
        problems.append(f"Champ 'clients' à la racine invalide : {c.NOT_LIST[1]}")
    mixed = [model.value for model in present if document[model.value]]
    if mixed:
        problems.append(
            f"sections {', '.join(mixed)} à la racine et 'clients' à la fois : "
            "placer chaque section dans son entrée de 'clients'"
        )
    if problems:
        raise InvalidStructure(problems)
    return Layout.CLIENTS, _client_entries(document[CLIENTS_KEY])


def _client_entries(raw_entries: list[Any]) -> list[ClientEntry]:
    entries: list[ClientEntry] = []
    seen: dict[str, ClientEntry] = {}
    for index, raw in enumerate(raw_entries):
        entry = ClientEntry(index=index, path=f"$.clients[{index}]")
        entries.append(entry)
        if type(raw) is not dict:
            _entry_issue(entry, None, c.NOT_OBJECT)
            continue
        _read_client(entry, raw.get("client"), "client" in raw)
        for model in SECTIONS:
            if model.value in raw and type(raw[model.value]) is not list:
                _entry_issue(entry, model.value, c.NOT_LIST)
        if entry.client is not None:
            first = seen.setdefault(entry.client.key, entry)
            if first is not entry:
                reason = f"client déjà présent dans ce fichier ({first.path})"
                _entry_issue(entry, "client.email", ("duplicate", reason))
        entry.items = _collect(entry, raw, entry.path)
    return entries


def _read_client(entry: ClientEntry, block: Any, present: bool) -> None:
    if not present:
        _entry_issue(entry, "client", c.REQUIRED)
        return
    if type(block) is not dict:
        _entry_issue(entry, "client", c.NOT_OBJECT)
        return
    problems = CLIENT_RULES.problems(block)
    if not problems:
        entry.client = Client(
            email=block["email"],
            first_name=block["firstName"],
            last_name=block["lastName"],
            phone_number=block.get("phoneNumber"),
        )
    elif type(block.get("email")) is str and c.email(block["email"]) is None:
        # Still name the entry by its e-mail in messages when only other fields are wrong.
        entry.client = Client(block["email"], "", "", None)
    for key, problem in problems:
        _entry_issue(entry, f"client.{key}", problem)


def _entry_issue(entry: ClientEntry, field: str | None, problem: c.Problem) -> None:
    code, reason = problem
    entry.issues.append(Issue(Model.CLIENTS, entry.label, field, reason, code))


def _collect(entry: ClientEntry, sections: dict[str, Any], base: str) -> list[Item]:
    """Every item of the entry, nested ones included, grouped in integration order."""
    groups: dict[Model, list[Item]] = {model: [] for model in SECTIONS}
    for model in SECTIONS:
        values = sections.get(model.value)
        if type(values) is not list:
            continue
        container = f"{base}.{model.value}"
        for index, data in enumerate(values):
            item = Item(model, data, container, index, entry)
            groups[model].append(item)
            if model is Model.DECLARANTS:
                for prop in _nested(item, Model.PROPERTIES, groups):
                    _nested(prop, Model.DOCUMENTS, groups)
                _nested(item, Model.ASSOCIATES, groups)
            elif model is Model.PROPERTIES:
                _nested(item, Model.DOCUMENTS, groups)
    return [
        *groups[Model.DECLARANTS],
        *groups[Model.PROPERTIES],
        *groups[Model.ASSOCIATES],
        *groups[Model.DOCUMENTS],
        *groups[Model.TRANSACTIONS],
    ]


def _nested(parent: Item, model: Model, groups: dict[Model, list[Item]]) -> list[Item]:
    values = parent.data.get(model.value) if type(parent.data) is dict else None
    if type(values) is not list:  # absent, or reported by the parent's own field check
        return []
    container = f"{parent.path}.{model.value}"
    children = [
        Item(model, data, container, index, parent.entry, parent)
        for index, data in enumerate(values)
    ]
    groups[model].extend(children)
    return children
