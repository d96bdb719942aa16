"""Request bodies of the publication API, checked like the reference's class-validator DTOs.

Types are strict (class-validator never coerces: `"true"` is not a boolean). Error messages are
produced by `errors.class_validator_messages`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictStr

_OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")
# class-validator's IsEmail is stricter than this; what matters is refusing obvious garbage.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def is_object_id(value: str) -> bool:
    return _OBJECT_ID.fullmatch(value) is not None


def _object_id(value: str) -> str:
    if not is_object_id(value):
        raise ValueError("{field} must be a mongodb id")
    return value


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError("{field} must be an email")
    return value


ObjectId = Annotated[StrictStr, AfterValidator(_object_id)]
Email = Annotated[StrictStr, AfterValidator(_email)]
NonEmpty = Annotated[StrictStr, Field(min_length=1)]


class _Body(BaseModel):
    # Unknown keys are ignored, as NestJS's ValidationPipe without `whitelist` lets them by.
    model_config = ConfigDict(extra="ignore")


class Context(BaseModel):
    model_config = ConfigDict(extra="allow")  # extra keys are stored as they come

    nomComplet: StrictStr | None = None
    organisation: StrictStr | None = None
    extras: dict[str, Any] | None = None


class RevisionCreate(_Body):
    context: Context


class PublishBody(_Body):
    habilitationId: ObjectId | None = None


class PerimeterIn(_Body):
    type: Literal["commune", "departement", "epci"]
    code: NonEmpty


class PerimetersUpdate(_Body):
    perimeters: list[PerimeterIn]


class ClientCreate(_Body):
    nom: NonEmpty
    mandataireId: ObjectId
    chefDeFileId: ObjectId | None = None
    isActive: StrictBool
    legacyId: StrictStr | None = None


class ClientUpdate(_Body):
    nom: NonEmpty | None = None
    mandataireId: ObjectId | None = None
    chefDeFileId: ObjectId | None = None
    isActive: StrictBool | None = None
    legacyId: StrictStr | None = None


class ChefDeFileCreate(_Body):
    nom: Annotated[StrictStr, Field(min_length=3, max_length=200)]
    email: Email
    isEmailPublic: StrictBool | None = None
    isSignataireCharte: StrictBool | None = None
    perimeters: list[PerimeterIn] | None = None


class ChefDeFileUpdate(_Body):
    nom: Annotated[StrictStr, Field(min_length=3, max_length=200)] | None = None
    email: Email | None = None
    isEmailPublic: StrictBool | None = None
    isSignataireCharte: StrictBool | None = None
    perimeters: list[PerimeterIn] | None = None


class MandataireCreate(_Body):
    nom: NonEmpty
    email: Email


class MandataireUpdate(_Body):
    nom: NonEmpty | None = None
    email: Email | None = None
