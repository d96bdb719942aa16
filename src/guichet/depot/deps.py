"""Path parameters and authentication, checked in the reference's order: path parameters first
(400 malformed id, 404 unknown), then the client token (401/403), then ownership (403)."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, Query
from fastapi.security import APIKeyHeader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from guichet import cog
from guichet.core.db import Session
from guichet.depot import errors, tokens
from guichet.depot.models import ChefDeFile, Client, Mandataire, Revision
from guichet.depot.schemas import is_object_id

T = TypeVar("T", Revision, Client, ChefDeFile, Mandataire)

_client_header = APIKeyHeader(
    name="Authorization",
    scheme_name="client-token",
    description="`Token <client token>` or `Bearer <client token>`",
    auto_error=False,
)


async def load(session: AsyncSession, model: type[T], label: str, value: str) -> T:
    """The row with id `value`: 400 `<label> Id <v> is not ObjectId`, or 404 if unknown."""
    if not is_object_id(value):
        raise errors.invalid_id(label, value)
    found = await session.get(model, value)
    if found is None:
        raise errors.unknown_id(label, value)
    return found


async def get_revision(revision_id: str, session: Session) -> Revision:
    return await load(session, Revision, "Revision", revision_id)


async def get_client_param(client_id: str, session: Session) -> Client:
    return await load(session, Client, "Client", client_id)


async def get_chef_de_file(chef_de_file_id: str, session: Session) -> ChefDeFile:
    return await load(session, ChefDeFile, "Chef de file", chef_de_file_id)


async def get_mandataire(mandataire_id: str, session: Session) -> Mandataire:
    return await load(session, Mandataire, "Mandataire", mandataire_id)


def get_commune(
    code_commune: str,
    ancienne_commune_allowed: Annotated[str | None, Query(alias="ancienneCommuneAllowed")] = None,
) -> str:
    """A current commune or municipal arrondissement; a former code too with
    `?ancienneCommuneAllowed=true`."""
    allowed = cog.is_known if ancienne_commune_allowed == "true" else cog.is_current
    if not allowed(code_commune):
        raise errors.CommuneUnknown()
    return code_commune


async def get_current_client(
    session: Session, authorization: Annotated[str | None, Depends(_client_header)]
) -> Client:
    if not authorization:
        raise errors.AuthenticationRequired()
    token = tokens.token_from_header(authorization)
    if token is None:
        raise errors.TokenMissing()
    # Looked up by the token's SHA-256: the hash is what is compared, so the timing of the
    # index lookup tells nothing about the token itself.
    client = await session.scalar(
        select(Client).where(Client.token_hash == tokens.hash_token(token))
    )
    if client is None or not tokens.matches(token, client.token_hash):
        raise errors.AuthenticationRefused()
    if not client.is_active:
        raise errors.ClientInactive()
    return client


RevisionParam = Annotated[Revision, Depends(get_revision)]
ClientParam = Annotated[Client, Depends(get_client_param)]
ChefDeFileParam = Annotated[ChefDeFile, Depends(get_chef_de_file)]
MandataireParam = Annotated[Mandataire, Depends(get_mandataire)]
Commune = Annotated[str, Depends(get_commune)]
CurrentClient = Annotated[Client, Depends(get_current_client)]


async def get_owned_revision(revision: RevisionParam, client: CurrentClient) -> Revision:
    if revision.client_id != client.id:
        raise errors.NotRevisionOwner()
    return revision


OwnedRevision = Annotated[Revision, Depends(get_owned_revision)]
