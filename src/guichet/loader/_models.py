"""The five item models and the client block: required keys and one check per known field.

Unknown keys are passed through untouched (the contract has no ``additionalProperties: false``
and Qlower's docs add fields over time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from guichet.loader import _checks as c
from guichet.loader import _codes as codes


class Model(StrEnum):
    """The ``model`` names of the report (``errors[].model``, ``combined_result[].model``)."""

    CLIENTS = "clients"
    DECLARANTS = "declarants"
    PROPERTIES = "properties"
    ASSOCIATES = "associates"
    TRANSACTIONS = "transactions"
    DOCUMENTS = "documents"


INTEGRATION_ORDER = (
    Model.DECLARANTS,
    Model.PROPERTIES,
    Model.ASSOCIATES,
    Model.DOCUMENTS,
    Model.TRANSACTIONS,
)
"""Every item depends only on items of an earlier model in this order."""
REPORT_ORDER = (
    Model.CLIENTS,
    Model.DECLARANTS,
    Model.PROPERTIES,
    Model.ASSOCIATES,
    Model.TRANSACTIONS,
    Model.DOCUMENTS,
)
"""Order of ``combined_result`` (the contract's sample lists properties before transactions)."""

FieldProblem = tuple[str, c.Problem]


@dataclass(frozen=True, slots=True)
class Rules:
    required: tuple[str, ...]
    checks: Mapping[str, c.Check]
    # Derived once: plain-text fields are checked inline (no call), the hot path of every item.
    _required_set: frozenset[str] = field(init=False)
    _texts: frozenset[str] = field(init=False)
    _others: Mapping[str, c.Check] = field(init=False)

    def __post_init__(self) -> None:
        texts = frozenset(key for key, check in self.checks.items() if check is c.text)
        others = {key: check for key, check in self.checks.items() if key not in texts}
        object.__setattr__(self, "_required_set", frozenset(self.required))
        object.__setattr__(self, "_texts", texts)
        object.__setattr__(self, "_others", others)

    def problems(self, data: dict[str, Any]) -> Sequence[FieldProblem]:
        """Every problem of one object's own fields: missing keys first, then in key order."""
        problems: list[FieldProblem] | None = None
        if not data.keys() >= self._required_set:
            problems = [(key, c.REQUIRED) for key in self.required if key not in data]
        texts, others = self._texts, self._others
        for key, value in data.items():
            if key in texts:
                if type(value) is str:
                    continue
                problem = c.NOT_STRING
            else:
                check = others.get(key)
                found = None if check is None else check(value)
                if found is None:
                    continue
                problem = found
            if problems is None:
                problems = []
            problems.append((key, problem))
        return problems if problems is not None else ()


_DECLARANT = Rules(
    required=("id", "legalStatusId", "corporateName", "address", "townName", "postCode"),
    checks={
        "id": c.external_id,
        "sirenId": c.matching(r"\d{9}", "9 chiffres attendus (SIREN)"),
        "nicId": c.matching(r"\d{5}", "5 chiffres attendus (NIC)"),
        "legalStatusId": c.choice(codes.LEGAL_STATUS),
        "taxRegimeAggregation": c.choice(codes.TAX_REGIME_AGGREGATION, nullable=True),
        "taxCategoryId": c.choice(codes.TAX_CATEGORY, ints=True, nullable=True),
        "taxRegimeId": c.choice(codes.DECLARANT_TAX_REGIME, ints=True, nullable=True),
        "corporateName": c.nonempty_text,
        "debActDate": c.iso_date,
        "address": c.text,
        "townName": c.text,
        "postCode": c.text,
        "ogaSiretId": c.text,
        "ogaName": c.text,
        "ogaId": c.text,
        "ogaNumber": c.text,
        "properties": c.is_list,
        "associates": c.is_list,
    },
)

_PROPERTY = Rules(
    required=(
        "id",
        "description",
        "streetName",
        "townName",
        "postCode",
        "ctry",
        "lastName",
        "firstName",
        "email",
        "acquisitionDate",
    ),
    checks={
        "id": c.external_id,
        "declarantId": c.text,
        "remove": c.choice(codes.REMOVE),
        "type": c.choice(codes.PROPERTY_TYPE),
        "description": c.nonempty_text,
        "furnished": c.choice(codes.YES_NO),
        "managed": c.choice(codes.MANAGED),
        "bldgNb": c.text,
        "streetName": c.text,
        "streetName2": c.text_or_null,
        "townName": c.text,
        "postCode": c.text,
        "ctry": c.matching(r"[A-Z]{2}", "code pays en 2 lettres majuscules attendu (ex. FR)"),
        "lastName": c.text,
        "firstName": c.text,
        "telNumber": c.text,
        "email": c.text,
        "constructionDate": c.iso_date,
        "acquisitionDate": c.iso_date,
        "nbrRooms": c.integer(minimum=0),
        "area": c.decimal,
        "terrArea": c.decimal,
        "gardArea": c.decimal,
        "nbrFloors": c.integer(),
        "nbrPark": c.integer(minimum=0),
        "siretId": c.matching(r"\d{14}", "14 chiffres attendus (SIRET)"),
        "tvaOption": c.choice(codes.TVA_OPTION, nullable=True),
        "netReevaluation": c.decimal,
        "debActDate": c.iso_date,
        "taxRegime": c.choice(codes.PROPERTY_TAX_REGIME, ints=True),
        "workCompDate": c.iso_date,
        "costPrice": c.decimal,
        "completionStatus": c.choice(codes.COMPLETION_STATUS),
        "startConstrDate": c.iso_date,
        "dismemberedProperty": c.choice(codes.YES_NO),
        "agencyFee": c.decimal,
        "notaryFee": c.decimal,
        "documents": c.is_list,
    },
)

_ASSOCIATE = Rules(
    required=("id", "civility", "email"),
    checks={
        "id": c.external_id,
        "civility": c.choice(codes.CIVILITY),
        "firstName": c.text,
        "lastName": c.text,
        "address": c.text,
        "adress": c.text,  # the 2.0 example's spelling, tolerated
        "townName": c.text,
        "ctry": c.text_or_null,
        "email": c.text,
        "manager": c.choice(codes.MANAGER),
    },
)

_TRANSACTION = Rules(
    required=("id", "reqdExctnDt", "id-prty", "amt", "ref"),
    checks={
        "id": c.external_id,
        "reqdExctnDt": c.iso_date,
        "id-prty": c.external_id,
        "id-tenant": c.text,
        "amt": c.decimal,
        "ccy": c.choice(codes.CURRENCY),
        "purpose": c.text,
        "ref": c.text,
    },
)

_DOCUMENT = Rules(
    required=("id", "fileName", "year", "fileLink"),
    checks={
        "id": c.external_id,
        "propertyId": c.text,
        "declarantId": c.text,
        "fileName": c.text,
        "fileType": c.choice(codes.FILE_TYPE, ints=True, nullable=True),
        "year": c.year,
        "fileLink": c.web_url,
    },
)

RULES: Mapping[Model, Rules] = {
    Model.DECLARANTS: _DECLARANT,
    Model.PROPERTIES: _PROPERTY,
    Model.ASSOCIATES: _ASSOCIATE,
    Model.TRANSACTIONS: _TRANSACTION,
    Model.DOCUMENTS: _DOCUMENT,
}

CLIENT_RULES = Rules(
    required=("email", "firstName", "lastName"),
    checks={"email": c.email, "firstName": c.text, "lastName": c.text, "phoneNumber": c.text},
)

PROPERTY_REMOVAL_RULES = Rules(required=("id",), checks=_PROPERTY.checks)
"""A GDPR deletion request (``remove: "R"``) names the property; nothing else is needed."""
