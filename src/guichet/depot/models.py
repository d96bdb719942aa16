"""ORM tables of the publication API: mandataires, chefs de file and their perimeters, clients,
habilitations, revisions and their files.

Ids are 24-hex-digit MongoDB ObjectIds, as in the reference (clients keep them as strings).
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import struct
import threading
import time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from guichet.core.db import Base

ID = String(24)

_counter_lock = threading.Lock()
_counter = int.from_bytes(os.urandom(3), "big")
_process = (os.getpid(), os.urandom(5))


def new_id() -> str:
    """A MongoDB ObjectId: 4 bytes of seconds, 5 random bytes per process, a 3-byte counter
    (so ids made by one process sort in creation order)."""
    global _counter, _process
    with _counter_lock:
        if _process[0] != os.getpid():  # forked: another process, another random part
            _process = (os.getpid(), os.urandom(5))
        _counter = (_counter + 1) & 0xFFFFFF
        count, random_part = _counter, _process[1]
    return (struct.pack(">I", int(time.time())) + random_part + count.to_bytes(3, "big")).hex()


class AuthorizationStrategy(enum.StrEnum):
    INTERNAL = "internal"
    CHEF_DE_FILE = "chef-de-file"
    HABILITATION = "habilitation"


class PerimeterType(enum.StrEnum):
    COMMUNE = "commune"
    DEPARTEMENT = "departement"
    EPCI = "epci"


class HabilitationStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class HabilitationStrategy(enum.StrEnum):
    """How a habilitation was (or is being) obtained: `strategy.type` on the wire."""

    EMAIL = "email"
    PROCONNECT = "proconnect"
    INTERNAL = "internal"  # accepted by an admin


class RevisionStatus(enum.StrEnum):
    PENDING = "pending"
    PUBLISHED = "published"


def _in(values: type[enum.StrEnum]) -> str:
    return "IN (" + ", ".join(f"'{value}'" for value in values) + ")"


class _Timestamps:
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Mandataire(_Timestamps, Base):
    """The technical operator behind a client."""

    __tablename__ = "depot_mandataire"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    nom: Mapped[str] = mapped_column(Text)
    email: Mapped[str] = mapped_column(Text)


class ChefDeFile(_Timestamps, Base):
    """A territorial coordinator (EPCI, département…) whose perimeter bounds its clients."""

    __tablename__ = "depot_chef_de_file"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    nom: Mapped[str] = mapped_column(Text)
    email: Mapped[str] = mapped_column(Text)
    is_email_public: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    is_signataire_charte: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    perimeters: Mapped[list[Perimeter]] = relationship(
        back_populates="chef_de_file",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="Perimeter.position",
    )


class Perimeter(Base):
    __tablename__ = "depot_perimeter"
    __table_args__ = (CheckConstraint(f"type {_in(PerimeterType)}", name="type"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    chef_de_file_id: Mapped[str] = mapped_column(
        ForeignKey("depot_chef_de_file.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(server_default=text("0"))
    type: Mapped[str] = mapped_column(Text)
    code: Mapped[str] = mapped_column(Text)
    chef_de_file: Mapped[ChefDeFile] = relationship(back_populates="perimeters")


class Client(_Timestamps, Base):
    """An API consumer. Only the SHA-256 of its token is stored (shown once, at creation)."""

    __tablename__ = "depot_client"
    __table_args__ = (
        CheckConstraint(f"authorization_strategy {_in(AuthorizationStrategy)}", name="strategy"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    mandataire_id: Mapped[str] = mapped_column(
        ForeignKey("depot_mandataire.id", ondelete="CASCADE"), index=True
    )
    chef_de_file_id: Mapped[str | None] = mapped_column(
        ForeignKey("depot_chef_de_file.id", ondelete="CASCADE"), index=True
    )
    legacy_id: Mapped[str | None] = mapped_column(Text)
    nom: Mapped[str] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    authorization_strategy: Mapped[str] = mapped_column(Text)

    mandataire: Mapped[Mandataire] = relationship(lazy="joined")
    chef_de_file: Mapped[ChefDeFile | None] = relationship(lazy="joined")


class Habilitation(_Timestamps, Base):
    """The authorization of one client to publish for one commune.

    The PIN of the e-mail strategy is kept as a salted scrypt hash only (see depot.pin), with
    its expiry and the attempts left; none of them ever leaves the database. The checks say
    what the code relies on, whatever writes the row.
    """

    __tablename__ = "depot_habilitation"
    __table_args__ = (
        CheckConstraint(f"status {_in(HabilitationStatus)}", name="status"),
        CheckConstraint(f"strategy_type {_in(HabilitationStrategy)}", name="strategy_type"),
        CheckConstraint("status <> 'accepted' OR accepted_at IS NOT NULL", name="accepted_at"),
        CheckConstraint("status <> 'rejected' OR rejected_at IS NOT NULL", name="rejected_at"),
        CheckConstraint("remaining_attempts BETWEEN 0 AND 10", name="remaining_attempts"),
        CheckConstraint(
            "pin_hash IS NULL OR (pin_expires_at IS NOT NULL AND remaining_attempts IS NOT NULL)",
            name="pin",
        ),
        Index("ix_depot_habilitation_client_id_code_commune", "client_id", "code_commune"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(ForeignKey("depot_client.id", ondelete="CASCADE"))
    code_commune: Mapped[str] = mapped_column(Text)
    email_commune: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    strategy_type: Mapped[str | None] = mapped_column(Text)
    pin_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    pin_sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    pin_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    remaining_attempts: Mapped[int | None] = mapped_column()
    authentication_error: Mapped[str | None] = mapped_column(Text)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    rejected_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # when its client was reminded that it expires (once; see `habilitation_reminders`)
    expiry_reminded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Revision(_Timestamps, Base):
    """One attempt to publish a BAL for one commune.

    At most one current revision per commune: the partial unique index says so, whatever the
    code does (publish also holds a per-commune advisory lock, see publication.publish).
    """

    __tablename__ = "depot_revision"
    __table_args__ = (
        CheckConstraint(f"status {_in(RevisionStatus)}", name="status"),
        Index(
            "depot_revision_one_current_key",
            "code_commune",
            unique=True,
            postgresql_where=text("is_current"),
        ),
        Index("ix_depot_revision_code_commune_created_at", "code_commune", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("depot_client.id", ondelete="CASCADE"), index=True
    )
    code_commune: Mapped[str] = mapped_column(Text)
    is_ready: Mapped[bool | None] = mapped_column(Boolean, server_default=text("false"))
    is_current: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    context: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    validation: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    habilitation: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    report_key: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class File(Base):
    """The BAL file of a revision (one per revision: the unique key enforces it)."""

    __tablename__ = "depot_file"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    revision_id: Mapped[str] = mapped_column(
        ForeignKey("depot_revision.id", ondelete="CASCADE"), unique=True
    )
    blob_key: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(Text)  # sha256, hex
    type: Mapped[str] = mapped_column(Text, server_default=text("'bal'"))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
