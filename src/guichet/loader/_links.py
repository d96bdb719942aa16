"""Identity and references across items (SPEC §2.2, §3.6), as far as the file alone can tell.

* Identity: an external id is unique per (partner, model), so per model across the whole file;
  the first occurrence claims it, later ones are refused.
* References resolve inside the same client entry: nesting first (it is authoritative; a
  contradicting ``declarantId``/``propertyId`` inside a nested item is ignored with a warning,
  as in Qlower's own complete example), then ``declarantId`` / ``propertyId`` / ``id-prty``.
  An id defined in another entry belongs to another account: refused. An id defined nowhere in
  the file is an *external reference* the server resolves against stored objects (monthly
  transaction files point at properties loaded long ago); ``self_contained`` refuses it instead.
* Cascade: an item whose client entry, parent or referenced item is refused is refused too, with
  one issue saying why, and so is anything pointing at a property the file deletes (``remove``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from guichet.loader import _checks as c
from guichet.loader._items import ClientEntry, Issue, Item, Reference, link_key, singular
from guichet.loader._models import INTEGRATION_ORDER, Model

# Enum members looked up once: attribute access on the Enum class costs in a 100k-item loop.
_DECLARANTS, _PROPERTIES = Model.DECLARANTS, Model.PROPERTIES
_ASSOCIATES, _DOCUMENTS, _TRANSACTIONS = Model.ASSOCIATES, Model.DOCUMENTS, Model.TRANSACTIONS
_DOCUMENT_LINKS = ("propertyId", "declarantId")
_ABSENT = {Model.PROPERTIES: "absente", Model.DECLARANTS: "absent"}


@dataclass(slots=True)
class Linker:
    self_contained: bool = False
    warnings: list[Issue] = field(default_factory=list)
    _ids: dict[Model, dict[str, Item]] = field(default_factory=dict)

    def link(self, entries: list[ClientEntry]) -> None:
        by_model: dict[Model, list[Item]] = {model: [] for model in INTEGRATION_ORDER}
        for entry in entries:
            for item in entry.items:
                by_model[item.model].append(item)
        for model in INTEGRATION_ORDER:
            self._ids[model] = _claim_ids(by_model[model])
        for model in INTEGRATION_ORDER:  # dependencies only point at earlier models
            for item in by_model[model]:
                if type(item.data) is dict:
                    self._resolve(item)
                if item.depends_on or not item.entry.is_valid:
                    _cascade(item)

    def _resolve(self, item: Item) -> None:
        model = item.model
        if model is _TRANSACTIONS:
            self._refer(item, "id-prty", _PROPERTIES)
        elif model is _PROPERTIES:
            if item.parent is None:
                self._refer(item, "declarantId", _DECLARANTS)
            else:
                self._nest(item, item.parent, "declarantId")
        elif model is _DOCUMENTS:
            self._resolve_document(item)
        elif model is _ASSOCIATES:
            if item.parent is None:
                reason = "un associé se déclare dans son déclarant (declarants[].associates)"
                item.add_issue(None, reason, "layout")
            else:
                self._nest(item, item.parent, None)

    def _nest(self, item: Item, parent: Item, stated_key: str | None) -> None:
        item.depends_on = (parent,)
        if parent.model is _DECLARANTS:
            item.declarant_id = parent.id
        else:
            item.property_id = parent.id
            item.declarant_id = parent.declarant_id
        if stated_key is not None:
            self._warn_if_contradicted(item, stated_key, parent)

    def _resolve_document(self, item: Item) -> None:
        if item.parent is not None:
            self._nest(item, item.parent, "propertyId")
            return
        linked = self._refer(item, "propertyId", _PROPERTIES)
        linked |= self._refer(item, "declarantId", _DECLARANTS)
        # Absent or empty both: a wrongly typed link is already reported by the field check.
        if not linked and all(item.data.get(key) in (None, "") for key in _DOCUMENT_LINKS):
            reason = f"{c.REQUIRED[1]} (propertyId ou declarantId)"
            item.add_issue("propertyId", reason, "required")

    def _refer(self, item: Item, key: str, target_model: Model) -> bool:
        """Resolve ``item.data[key]``; False when the key is absent or empty (no link)."""
        ref = item.data.get(key)
        if type(ref) is not str or not ref:
            return False  # a wrong type is reported by the field check
        if target_model is _PROPERTIES:
            item.property_id = ref
        else:
            item.declarant_id = ref
        target = self._ids[target_model].get(ref)
        if target is not None and target.entry is item.entry:
            item.depends_on = (*item.depends_on, target)
        elif target is not None:
            noun, owner = singular(target_model), target.entry.label
            reason = f"{noun} '{ref}' appartient à un autre client de ce fichier ({owner})"
            item.add_issue(key, reason, "reference")
        elif self.self_contained:
            reason = f"{singular(target_model)} '{ref}' {_ABSENT[target_model]} de ce fichier"
            item.add_issue(key, reason, "reference")
        else:
            item.external_refs = (*item.external_refs, Reference(key, target_model, ref))
        return True

    def _warn_if_contradicted(self, item: Item, key: str, parent: Item) -> None:
        stated = item.data.get(key)
        if type(stated) is str and stated and stated != parent.id:
            where = f"{singular(parent.model)} '{parent.label}'"
            reason = f"'{stated}' contredit l'imbrication dans {where}, qui fait foi"
            warning = Issue(item.model, item.label, key, reason, "ignored", is_warning=True)
            self.warnings.append(warning)


def _claim_ids(items: list[Item]) -> dict[str, Item]:
    ids: dict[str, Item] = {}
    for item in items:
        if item.id is None:
            continue
        first = ids.setdefault(item.id, item)
        if first is not item:
            reason = f"identifiant déjà utilisé dans ce fichier ({first.path})"
            item.add_issue("id", reason, "duplicate")
    return ids


def _cascade(item: Item) -> None:
    """Refuse a valid item whose entry or dependency is refused (one issue: the first cause)."""
    if not item.is_valid:
        return
    if not item.entry.is_valid:
        item.add_issue("client", f"client '{item.entry.label}' invalide", "client")
        return
    for target in item.depends_on:
        if not target.is_valid:
            noun = singular(target.model)
            item.add_issue(
                link_key(item, target), f"{noun} '{target.label}' invalide", "dependency"
            )
            return
        if target.is_removal:
            reason = f"propriété '{target.label}' supprimée par ce fichier (remove: R)"
            item.add_issue(link_key(item, target), reason, "removed")
            return
