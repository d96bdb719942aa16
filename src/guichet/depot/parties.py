"""Clients, mandataires and chefs de file (the parties behind a publication)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core.errors import BadRequest
from guichet.depot import cache, tokens
from guichet.depot.deps import load
from guichet.depot.models import (
    AuthorizationStrategy,
    ChefDeFile,
    Client,
    Mandataire,
    Perimeter,
)
from guichet.depot.schemas import (
    ChefDeFileCreate,
    ChefDeFileUpdate,
    ClientCreate,
    ClientUpdate,
    MandataireCreate,
    MandataireUpdate,
    PerimeterIn,
)
from guichet.depot.service import utcnow


async def list_clients(session: AsyncSession) -> Sequence[Client]:
    return (
        (await session.scalars(select(Client).order_by(Client.created_at, Client.id)))
        .unique()
        .all()
    )


async def create_client(
    session: AsyncSession, body: ClientCreate, *, token: str | None = None
) -> tuple[Client, str]:
    """A new client and its token (returned once: only its hash is kept)."""
    if body.chefDeFileId is not None:
        await load(session, ChefDeFile, "Chef de file", body.chefDeFileId)
    await load(session, Mandataire, "Mandataire", body.mandataireId)
    token = token or tokens.generate_token()
    client = Client(
        nom=body.nom,
        mandataire_id=body.mandataireId,
        chef_de_file_id=body.chefDeFileId,
        legacy_id=body.legacyId,
        is_active=body.isActive,
        token_hash=tokens.hash_token(token),
        authorization_strategy=(
            AuthorizationStrategy.CHEF_DE_FILE
            if body.chefDeFileId
            else AuthorizationStrategy.HABILITATION
        ),
    )
    session.add(client)
    await session.flush()
    return await _reloaded(session, client), token


async def _reloaded(session: AsyncSession, client: Client) -> Client:
    await session.refresh(client)
    # relationships follow the ids (joined eager loads are not refreshed by refresh()).
    await session.refresh(client, ["mandataire", "chef_de_file"])
    return client


async def update_client(session: AsyncSession, client: Client, body: ClientUpdate) -> Client:
    """Only the given fields change. As in the reference, a new chef de file does not change
    the authorization strategy."""
    changes = body.model_dump(exclude_unset=True)
    if changes.get("chefDeFileId"):
        await load(session, ChefDeFile, "Chef de file", changes["chefDeFileId"])
    if changes.get("mandataireId"):
        await load(session, Mandataire, "Mandataire", changes["mandataireId"])
    columns = {
        "nom": "nom",
        "mandataireId": "mandataire_id",
        "chefDeFileId": "chef_de_file_id",
        "isActive": "is_active",
        "legacyId": "legacy_id",
    }
    for key, value in changes.items():
        if value is None and key != "chefDeFileId":
            continue
        setattr(client, columns[key], value)
    client.updated_at = utcnow()
    await session.flush()
    await cache.notify_changed(session, cache.ALL)  # shown with its current revisions
    return await _reloaded(session, client)


async def renew_token(session: AsyncSession, client: Client) -> str:
    token = tokens.generate_token()
    client.token_hash = tokens.hash_token(token)
    client.updated_at = utcnow()
    await session.flush()
    return token


def _perimeters(items: list[PerimeterIn]) -> list[Perimeter]:
    return [Perimeter(type=p.type, code=p.code, position=i) for i, p in enumerate(items)]


async def set_client_perimeters(
    session: AsyncSession, client: Client, items: list[PerimeterIn]
) -> None:
    if client.chef_de_file_id is None:
        raise BadRequest(f"Le client {client.id} n’a pas de chef de file")
    chef = await load(session, ChefDeFile, "Chef de file", client.chef_de_file_id)
    chef.perimeters = _perimeters(items)
    chef.updated_at = utcnow()
    await session.flush()


async def list_chefs_de_file(session: AsyncSession) -> Sequence[ChefDeFile]:
    query = select(ChefDeFile).order_by(ChefDeFile.created_at, ChefDeFile.id)
    return (await session.scalars(query)).all()


async def create_chef_de_file(session: AsyncSession, body: ChefDeFileCreate) -> ChefDeFile:
    chef = ChefDeFile(
        nom=body.nom,
        email=body.email,
        is_email_public=bool(body.isEmailPublic),
        is_signataire_charte=bool(body.isSignataireCharte),
        perimeters=_perimeters(body.perimeters or []),
    )
    session.add(chef)
    await session.flush()
    await session.refresh(chef)
    return chef


async def update_chef_de_file(
    session: AsyncSession, chef: ChefDeFile, body: ChefDeFileUpdate
) -> ChefDeFile:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    for key, column in (
        ("nom", "nom"),
        ("email", "email"),
        ("isEmailPublic", "is_email_public"),
        ("isSignataireCharte", "is_signataire_charte"),
    ):
        if key in changes:
            setattr(chef, column, changes[key])
    if body.perimeters is not None:  # replaces the list (orphans deleted)
        chef.perimeters = _perimeters(body.perimeters)
    chef.updated_at = utcnow()
    await session.flush()
    await cache.notify_changed(session, cache.ALL)  # shown with its clients' revisions
    await session.refresh(chef)
    return chef


async def list_mandataires(session: AsyncSession) -> Sequence[Mandataire]:
    query = select(Mandataire).order_by(Mandataire.created_at, Mandataire.id)
    return (await session.scalars(query)).all()


async def create_mandataire(session: AsyncSession, body: MandataireCreate) -> Mandataire:
    mandataire = Mandataire(nom=body.nom, email=body.email)
    session.add(mandataire)
    await session.flush()
    await session.refresh(mandataire)
    return mandataire


async def update_mandataire(
    session: AsyncSession, mandataire: Mandataire, body: MandataireUpdate
) -> Mandataire:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "nom" in changes:
        mandataire.nom = changes["nom"]
    if "email" in changes:
        mandataire.email = changes["email"]
    mandataire.updated_at = utcnow()
    await session.flush()
    await cache.notify_changed(session, cache.ALL)  # shown with its clients' revisions
    await session.refresh(mandataire)
    return mandataire
