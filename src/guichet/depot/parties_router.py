"""Clients, chefs de file and mandataires (§2.4 #23–35): public reads, admin writes.

Creations answer 200, not 201, as the reference does. A client's token appears in exactly two
answers: its creation and `POST /clients/{id}/token/renew` (only its hash is stored).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from guichet.core.auth import Admin
from guichet.core.db import Session
from guichet.core.errors import route_class
from guichet.core.logging import get_logger
from guichet.depot import errors, parties, views
from guichet.depot.bodies import openapi_body, parse_body
from guichet.depot.deps import ChefDeFileParam, ClientParam, MandataireParam
from guichet.depot.schemas import (
    ChefDeFileCreate,
    ChefDeFileUpdate,
    ClientCreate,
    ClientUpdate,
    MandataireCreate,
    MandataireUpdate,
    PerimetersUpdate,
)

log = get_logger(__name__)

router = APIRouter(route_class=route_class(errors.NEST_FORMAT))


@router.get("/clients", tags=["clients"])
async def list_clients(session: Session) -> JSONResponse:
    return JSONResponse([views.client(c) for c in await parties.list_clients(session)])


@router.post("/clients", tags=["clients"], openapi_extra=openapi_body(ClientCreate))
async def create_client(request: Request, _: Admin, session: Session) -> JSONResponse:
    """A new client; its token is in this answer and nowhere else, ever."""
    body = await parse_body(request, ClientCreate)
    client, token = await parties.create_client(session, body)
    log.info("depot.client_created", client_id=client.id)
    return JSONResponse(views.client(client, token=token))


@router.get("/clients/{client_id}", tags=["clients"])
async def get_client(client: ClientParam) -> JSONResponse:
    """Tokens are stored hashed: not even the admin can read one back (renew it instead)."""
    return JSONResponse(views.client(client))


@router.put("/clients/{client_id}", tags=["clients"], openapi_extra=openapi_body(ClientUpdate))
async def update_client(
    request: Request, client: ClientParam, _: Admin, session: Session
) -> JSONResponse:
    body = await parse_body(request, ClientUpdate)
    return JSONResponse(views.client(await parties.update_client(session, client, body)))


@router.post("/clients/{client_id}/token/renew", tags=["clients"])
async def renew_token(client: ClientParam, _: Admin, session: Session) -> JSONResponse:
    """A new token for the client (the old one stops working); shown once."""
    token = await parties.renew_token(session, client)
    log.info("depot.client_token_renewed", client_id=client.id)
    return JSONResponse(views.client(client, token=token))


@router.put(
    "/clients/{client_id}/chef_de_file/perimeter",
    tags=["clients"],
    openapi_extra=openapi_body(PerimetersUpdate),
)
async def set_perimeters(
    request: Request, client: ClientParam, _: Admin, session: Session
) -> Response:
    """Replaces the perimeters of the client's chef de file; 200 with an empty body."""
    body = await parse_body(request, PerimetersUpdate)
    await parties.set_client_perimeters(session, client, body.perimeters)
    return Response(status_code=200)


@router.get("/chefs-de-file", tags=["chefs de file"])
async def list_chefs_de_file(session: Session) -> JSONResponse:
    return JSONResponse([views.chef_de_file(c) for c in await parties.list_chefs_de_file(session)])


@router.post("/chefs-de-file", tags=["chefs de file"], openapi_extra=openapi_body(ChefDeFileCreate))
async def create_chef_de_file(request: Request, _: Admin, session: Session) -> JSONResponse:
    body = await parse_body(request, ChefDeFileCreate)
    return JSONResponse(views.chef_de_file(await parties.create_chef_de_file(session, body)))


@router.get("/chefs-de-file/{chef_de_file_id}", tags=["chefs de file"])
async def get_chef_de_file(chef: ChefDeFileParam) -> JSONResponse:
    return JSONResponse(views.chef_de_file(chef))


@router.put(
    "/chefs-de-file/{chef_de_file_id}",
    tags=["chefs de file"],
    openapi_extra=openapi_body(ChefDeFileUpdate),
)
async def update_chef_de_file(
    request: Request, chef: ChefDeFileParam, _: Admin, session: Session
) -> JSONResponse:
    body = await parse_body(request, ChefDeFileUpdate)
    return JSONResponse(views.chef_de_file(await parties.update_chef_de_file(session, chef, body)))


@router.get("/mandataires", tags=["mandataires"])
async def list_mandataires(session: Session) -> JSONResponse:
    return JSONResponse([views.mandataire(m) for m in await parties.list_mandataires(session)])


@router.post("/mandataires", tags=["mandataires"], openapi_extra=openapi_body(MandataireCreate))
async def create_mandataire(request: Request, _: Admin, session: Session) -> JSONResponse:
    body = await parse_body(request, MandataireCreate)
    return JSONResponse(views.mandataire(await parties.create_mandataire(session, body)))


@router.get("/mandataires/{mandataire_id}", tags=["mandataires"])
async def get_mandataire(mandataire: MandataireParam) -> JSONResponse:
    return JSONResponse(views.mandataire(mandataire))


@router.put(
    "/mandataires/{mandataire_id}",
    tags=["mandataires"],
    openapi_extra=openapi_body(MandataireUpdate),
)
async def update_mandataire(
    request: Request, mandataire: MandataireParam, _: Admin, session: Session
) -> JSONResponse:
    body = await parse_body(request, MandataireUpdate)
    return JSONResponse(
        views.mandataire(await parties.update_mandataire(session, mandataire, body))
    )
