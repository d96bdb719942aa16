"""What validation produces: issues, items (the partner's objects, annotated), client entries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from guichet.loader._checks import ID_MAX_LENGTH
from guichet.loader._codes import REMOVE_REQUEST
from guichet.loader._models import Model

VALIDATION_ERROR = "ValidationError"

_SINGULAR = {
    Model.CLIENTS: "client",
    Model.DECLARANTS: "déclarant",
    Model.PROPERTIES: "propriété",
    Model.ASSOCIATES: "associé",
    Model.TRANSACTIONS: "transaction",
    Model.DOCUMENTS: "document",
}


def singular(model: Model) -> str:
    """The French noun for one item of ``model`` ("propriété"), for messages."""
    return _SINGULAR[model]


def describe(
    model: Model, label: str, field: str | None, reason: str, *, verdict: str = "invalide"
) -> str:
    """The contract's message, with a French reason (its sample's is Pydantic's English):
    "Champ 'amt' dans transactions 'T-544' invalide : champ obligatoire"."""
    if field is None:
        return f"Élément {model} '{label}' {verdict} : {reason}"
    return f"Champ '{field}' dans {model} '{label}' {verdict} : {reason}"


@dataclass(frozen=True, slots=True)
class Issue:
    """One reason an item (or a client entry) is refused, or a warning.

    ``item_id`` is the partner's external id, the client's e-mail, or the JSON path of the object
    when it has no usable id (``$.transactions[3]``).
    """

    model: Model
    item_id: str
    field: str | None
    reason: str
    code: str
    """Stable machine code: required, type, length, enum, pattern, date, url, email, range,
    duplicate, reference, dependency, client, layout, removed, ignored."""
    type: str = VALIDATION_ERROR
    is_warning: bool = False
    """A warning does not refuse anything (a nested item's contradicting link, ignored)."""

    @property
    def message(self) -> str:
        verdict = "ignoré" if self.is_warning else "invalide"
        return describe(self.model, self.item_id, self.field, self.reason, verdict=verdict)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": str(self.model),
            "id": self.item_id,
            "field": self.field,
            "code": self.code,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Reference:
    """A link from an item to an object that is not in the file (the server must find it)."""

    field: str
    """The linking key: ``id-prty``, ``declarantId`` or ``propertyId``."""
    model: Model
    id: str


@dataclass(frozen=True, slots=True)
class Client:
    """The ``client`` block of a ``clients[]`` entry: the target account, keyed by e-mail."""

    email: str
    first_name: str
    last_name: str
    phone_number: str | None

    @property
    def key(self) -> str:
        """The identity of the account: the e-mail, trimmed and case-folded."""
        return self.email.strip().casefold()


@dataclass(slots=True, eq=False)
class ClientEntry:
    """One target account and its items. A flat file has exactly one, with ``client`` None
    (its items go to the partner's own account)."""

    index: int
    path: str
    client: Client | None = None
    issues: list[Issue] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    """Every item of the entry, nested ones included, in integration order (declarants,
    properties, associates, documents, transactions): each depends only on earlier ones."""

    @property
    def label(self) -> str:
        return self.client.email if self.client is not None else self.path

    @property
    def is_valid(self) -> bool:
        return not self.issues

    def items_of(self, model: Model) -> list[Item]:
        return [item for item in self.items if item.model is model]


class Item:
    """One partner object (declarant, property, associate, transaction, document).

    ``data`` is the object exactly as sent (unknown keys included); nested arrays stay inside it
    but their members are items of their own. A plain slotted class: 100,000 of these are made
    per large file, so nothing is allocated that the item does not need (no issue list until the
    first issue).
    """

    __slots__ = (
        "_issues",
        "container",
        "data",
        "declarant_id",
        "depends_on",
        "entry",
        "external_refs",
        "id",
        "index",
        "is_removal",
        "model",
        "parent",
        "property_id",
        "seq",
    )

    model: Model
    data: Any
    container: str
    """JSON path of the array holding the item (``$.clients[0].declarants[2].properties``)."""
    index: int
    entry: ClientEntry
    parent: Item | None
    """The declarant of a nested property or associate, the property of a nested document."""
    id: str | None
    """The external id, when it is a usable one (a non-empty string of at most 255 characters)."""
    seq: int
    """Position in `Validation.items` (a stable key for the report)."""
    is_removal: bool
    """A property sent with ``remove: "R"``: a GDPR deletion request, not a creation."""
    depends_on: tuple[Item, ...]
    """In-file items this one needs (parent, referenced items): it fails if any of them fails."""
    external_refs: tuple[Reference, ...]
    """Links to objects absent from the file: the server must find them among stored ones."""
    declarant_id: str | None
    """External id of the declarant the item hangs off (nesting or ``declarantId``), if any."""
    property_id: str | None
    """External id of the property the item hangs off (nesting, ``propertyId`` or ``id-prty``)."""
    _issues: list[Issue] | None

    def __init__(
        self,
        model: Model,
        data: Any,
        container: str,
        index: int,
        entry: ClientEntry,
        parent: Item | None = None,
    ) -> None:
        self.model = model
        self.data = data
        self.container = container
        self.index = index
        self.entry = entry
        self.parent = parent
        self.seq = -1
        self.depends_on = ()
        self.external_refs = ()
        self.declarant_id = None
        self.property_id = None
        self._issues = None
        self.id = None
        self.is_removal = False
        if type(data) is dict:
            raw_id = data.get("id")
            # An id too long for an index is an issue of its own; the item goes by its path.
            if type(raw_id) is str and 0 < len(raw_id) <= ID_MAX_LENGTH:
                self.id = raw_id
            self.is_removal = model is _PROPERTIES and data.get("remove") == REMOVE_REQUEST

    def __repr__(self) -> str:
        return f"<Item {self.model} {self.label!r}>"

    @property
    def path(self) -> str:
        return f"{self.container}[{self.index}]"

    @property
    def label(self) -> str:
        return self.id if self.id is not None else self.path

    @property
    def issues(self) -> Sequence[Issue]:
        return self._issues if self._issues is not None else ()

    @property
    def is_valid(self) -> bool:
        return self._issues is None

    def add_issue(self, field: str | None, reason: str, code: str) -> None:
        issue = Issue(self.model, self.label, field, reason, code)
        if self._issues is None:
            self._issues = [issue]
        else:
            self._issues.append(issue)


_PROPERTIES = Model.PROPERTIES
_LINK_KEYS = {
    (Model.PROPERTIES, Model.DECLARANTS): "declarantId",
    (Model.ASSOCIATES, Model.DECLARANTS): "declarantId",
    (Model.DOCUMENTS, Model.DECLARANTS): "declarantId",
    (Model.DOCUMENTS, Model.PROPERTIES): "propertyId",
    (Model.TRANSACTIONS, Model.PROPERTIES): "id-prty",
}


def link_key(item: Item, target: Item) -> str:
    """The key that links ``item`` to ``target`` (implicit for nested items)."""
    return _LINK_KEYS[item.model, target.model]
