"""Small factories of the publication API's rows (written with the test session)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from guichet.depot import tokens
from guichet.depot.models import (
    AuthorizationStrategy,
    ChefDeFile,
    Client,
    File,
    Mandataire,
    Perimeter,
    Revision,
    RevisionStatus,
    new_id,
)


@dataclass
class Party:
    client: Client
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Parties:
    mandataire: Mandataire
    chef_de_file: ChefDeFile
    chef: Party
    other: Party
    habilitation: Party


async def mandataire(session: AsyncSession, **values: Any) -> Mandataire:
    item = Mandataire(**{"nom": "mandataire", "email": "mandataire@test.fr", **values})
    session.add(item)
    await session.flush()
    return item


async def chef_de_file(
    session: AsyncSession, perimeters: list[tuple[str, str]] | None = None, **values: Any
) -> ChefDeFile:
    item = ChefDeFile(
        **{"nom": "chefDeFile", "email": "chef@test.fr", "is_email_public": True, **values}
    )
    item.perimeters = [
        Perimeter(type=t, code=c, position=i) for i, (t, c) in enumerate(perimeters or [])
    ]
    session.add(item)
    await session.flush()
    return item


async def client(
    session: AsyncSession,
    owner: Mandataire,
    chef: ChefDeFile | None = None,
    *,
    strategy: AuthorizationStrategy | None = None,
    **values: Any,
) -> Party:
    token = tokens.generate_token()
    if strategy is None:
        strategy = (
            AuthorizationStrategy.CHEF_DE_FILE if chef else AuthorizationStrategy.HABILITATION
        )
    item = Client(
        **{
            "nom": "test",
            "mandataire_id": owner.id,
            "chef_de_file_id": chef.id if chef else None,
            "token_hash": tokens.hash_token(token),
            "authorization_strategy": strategy,
            "is_active": True,
            **values,
        }
    )
    session.add(item)
    await session.flush()
    await session.refresh(item, ["mandataire", "chef_de_file"])
    return Party(item, token)


async def parties(session: AsyncSession) -> Parties:
    owner = await mandataire(session)
    chef = await chef_de_file(session, [("commune", "31591"), ("commune", "91534")])
    return Parties(
        mandataire=owner,
        chef_de_file=chef,
        chef=await client(session, owner, chef, nom="chef", legacy_id="mes-adresses"),
        other=await client(session, owner, chef, nom="other"),
        habilitation=await client(session, owner, None, nom="test"),
    )


async def revision(
    session: AsyncSession,
    owner: Client,
    code_commune: str = "31591",
    *,
    rows_count: int | None = None,
    published: bool = False,
    ready: bool = False,
    current: bool = False,
    with_file: bytes | None = None,
    **values: Any,
) -> Revision:
    validation = None
    if rows_count is not None or ready:
        validation = {
            "valid": True,
            "format": "1.3",
            "validatorVersion": "3.5.2",
            "errors": [],
            "warnings": [],
            "infos": [],
            "rowsCount": rows_count or 1,
        }
    item = Revision(
        **{
            "client_id": owner.id,
            "code_commune": code_commune,
            "context": {},
            "status": RevisionStatus.PUBLISHED if published else RevisionStatus.PENDING,
            "is_ready": None if published else ready,
            "is_current": current,
            "validation": validation,
            **values,
        }
    )
    session.add(item)
    await session.flush()
    if with_file is not None:
        digest = hashlib.sha256(with_file).hexdigest()
        key = f"missing/{item.id}.csv"
        session.add(
            File(id=new_id(), revision_id=item.id, blob_key=key, size=len(with_file), hash=digest)
        )
        await session.flush()
    await session.refresh(item)
    return item
