"""The operators' desk (`/ui/admin/…`): login with the admin token, then a signed session.

Every page reads and writes through the fronts' own functions — `depot.parties`,
`depot.habilitations`, `depot.stats`, `depot.webhooks`, `partners.registry`,
`partners.operators`, `partners.dropzone.provisioning` — and renders the API's own shapes
(`depot.views`, the partners' schemas): there is no second path to the data. A secret (a
client's token, a partner's API key, a drop zone's key) is shown once, on the page that answers
the form creating it, committed first, and never again.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select

from guichet.console import admin_reads, desk, reads, sessions
from guichet.console.desk import Form, read_form, safe_next
from guichet.console.paging import Pages, page_number
from guichet.console.sessions import DeskSession, LoginRequired
from guichet.core.auth import is_admin_header
from guichet.core.config import Settings
from guichet.core.db import Session
from guichet.core.errors import GuichetError
from guichet.core.logging import get_logger
from guichet.depot import habilitations, parties, stats, views, webhooks
from guichet.depot.deps import load
from guichet.depot.models import ChefDeFile, Client
from guichet.depot.schemas import (
    ChefDeFileCreate,
    ChefDeFileUpdate,
    ClientCreate,
    ClientUpdate,
    MandataireCreate,
    PerimeterIn,
)
from guichet.depot.service import utcnow
from guichet.partners import operators
from guichet.partners import registry as partners
from guichet.partners.dropzone import backends, provisioning
from guichet.partners.models import Partner, Run
from guichet.partners.schemas import PartnerCreate, RunRead

log = get_logger(__name__)
router = APIRouter(prefix="/ui/admin", include_in_schema=False, route_class=desk.ROUTE_CLASS)
ERRORS_PAGE_SIZE = 50
STATS_DAYS = 30


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _binding(settings: Settings) -> str | None:
    token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    return sessions.fingerprint("admin", token) if token else None


def require_operator(request: Request) -> DeskSession:
    """The operator's session, opened with the admin token in force; the login page else."""
    found = sessions.read_session(request, "admin")
    binding = _binding(_settings(request))
    if found is None or binding is None or not sessions.tokens_match(found.binding, binding):
        raise LoginRequired("admin")
    return found


Operator = Annotated[DeskSession, Depends(require_operator)]


async def posted(request: Request, operator: Operator) -> Form:
    """The form an operator posted, with its session's CSRF token (403 without)."""
    form = await read_form(request)
    sessions.check_csrf(operator, form)
    return form


Posted = Annotated[Form, Depends(posted)]


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        fields = sorted({str(e["loc"][0]) for e in error.errors() if e["loc"]})
        return "Champs invalides : " + ", ".join(fields) if fields else "Formulaire invalide"
    return error.message if isinstance(error, GuichetError) else str(error)


def _status(error: Exception) -> int:
    return error.status if isinstance(error, GuichetError) else 400


# --- login ----------------------------------------------------------------------------------


@router.get("/connexion", name="console_admin_login")
async def login_page(request: Request, suite: str | None = None) -> Response:
    return _login(request, suite)


def _login(request: Request, suite: str | None, error: str | None = None) -> Response:
    holder = Response()
    token = sessions.login_token(request, holder, "admin")
    context = {
        "title": "Connexion des opérateurs",
        "desk": "admin",
        "login_csrf": token,
        "suite": suite or "",
        "error": error,
        "fields": [("jeton", "Jeton d’administration", "password")],
    }
    response = desk.page(
        request, "desk_login.html", context, None, status_code=401 if error else 200
    )
    for name, value in holder.headers.items():
        if name == "set-cookie":
            response.headers.append(name, value)
    return response


@router.post("/connexion")
async def login(request: Request) -> Response:
    form = await read_form(request)
    sessions.check_login_csrf(request, "admin", form)
    settings = _settings(request)
    # The API's own check (constant time), on the header the API would have received.
    if not is_admin_header(f"Token {form.get('jeton', '')}", settings.admin_token):
        log.warning("console.admin_login_failed")
        return _login(request, form.get("suite"), "Jeton d’administration incorrect.")
    binding = _binding(settings)
    assert binding is not None  # a token matched
    response = _see_other(safe_next("admin", form.get("suite")))
    sessions.open_session(request, response, "admin", "admin", binding)
    log.info("console.admin_login")
    return response


@router.post("/deconnexion", name="console_admin_logout")
async def logout(form: Posted) -> Response:
    response = _see_other("/ui/admin/connexion")
    sessions.close_session(response, "admin")
    return response


# --- home -----------------------------------------------------------------------------------


@router.get("/", name="console_admin_home")
async def home(request: Request, operator: Operator, session: Session) -> HTMLResponse:
    stalled = _settings(request).worker.stalled_timeout
    counts = {
        "habilitations": await admin_reads.pending_habilitations_count(session),
        "revisions": await admin_reads.waiting_or_refused_count(session),
        "travaux": await admin_reads.troubled_count(session, stalled),
        "executions": await admin_reads.runs_count(session),
    }
    return desk.page(request, "admin/home.html", {"counts": counts, "nav": "accueil"}, operator)


# --- mandataires ----------------------------------------------------------------------------


@router.get("/mandataires", name="console_admin_mandataires")
async def mandataires(request: Request, operator: Operator, session: Session) -> HTMLResponse:
    return await _mandataires(request, operator, session)


async def _mandataires(
    request: Request,
    operator: DeskSession,
    session: Session,
    error: Exception | None = None,
    form: Form | None = None,
) -> HTMLResponse:
    items = [views.mandataire(m) for m in await parties.list_mandataires(session)]
    context = {"items": items, "nav": "mandataires", "form": form or {}}
    return _with_error(request, "admin/mandataires.html", context, operator, error)


def _with_error(
    request: Request,
    template: str,
    context: dict[str, Any],
    operator: DeskSession,
    error: Exception | None,
) -> HTMLResponse:
    if error is None:
        return desk.page(request, template, {"error": None, **context}, operator)
    status = _status(error)
    return desk.page(
        request, template, {**context, "error": _message(error)}, operator, status_code=status
    )


@router.post("/mandataires")
async def create_mandataire(
    request: Request, operator: Operator, form: Posted, session: Session
) -> Response:
    try:
        body = MandataireCreate.model_validate({"nom": form.get("nom"), "email": form.get("email")})
        created = await parties.create_mandataire(session, body)
    except (ValidationError, GuichetError) as error:
        await session.rollback()
        return await _mandataires(request, operator, session, error, form)
    log.info("console.mandataire_created", mandataire_id=created.id)
    return _see_other(f"/ui/admin/mandataires?cree={created.id}")


# --- chefs de file --------------------------------------------------------------------------


def parse_perimeters(text: str) -> list[PerimeterIn]:
    """`commune:31591, epci:243100518` (commas, spaces or new lines between them)."""
    items = []
    for word in text.replace(",", " ").split():
        kind, _, code = word.partition(":")
        items.append(PerimeterIn.model_validate({"type": kind.strip(), "code": code.strip()}))
    return items


@router.get("/chefs-de-file", name="console_admin_chefs")
async def chefs_de_file(request: Request, operator: Operator, session: Session) -> HTMLResponse:
    return await _chefs(request, operator, session)


async def _chefs(
    request: Request,
    operator: DeskSession,
    session: Session,
    error: Exception | None = None,
    form: Form | None = None,
) -> HTMLResponse:
    items = [views.chef_de_file(c) for c in await parties.list_chefs_de_file(session)]
    context = {"items": items, "nav": "chefs", "form": form or {}}
    return _with_error(request, "admin/chefs.html", context, operator, error)


@router.post("/chefs-de-file")
async def create_chef_de_file(
    request: Request, operator: Operator, form: Posted, session: Session
) -> Response:
    try:
        body = ChefDeFileCreate.model_validate(
            {
                "nom": form.get("nom"),
                "email": form.get("email"),
                "isEmailPublic": form.get("email_public") == "oui",
                "isSignataireCharte": form.get("charte") == "oui",
                "perimeters": parse_perimeters(form.get("perimetres", "")),
            }
        )
        created = await parties.create_chef_de_file(session, body)
    except (ValidationError, GuichetError) as error:
        await session.rollback()
        return await _chefs(request, operator, session, error, form)
    log.info("console.chef_de_file_created", chef_de_file_id=created.id)
    return _see_other(f"/ui/admin/chefs-de-file?cree={created.id}")


@router.post("/chefs-de-file/{chef_id}/perimetres")
async def set_perimeters(
    request: Request, chef_id: str, operator: Operator, form: Posted, session: Session
) -> Response:
    try:
        chef = await load(session, ChefDeFile, "Chef de file", chef_id)
        body = ChefDeFileUpdate(perimeters=parse_perimeters(form.get("perimetres", "")))
        await parties.update_chef_de_file(session, chef, body)
    except (ValidationError, GuichetError) as error:
        await session.rollback()
        return await _chefs(request, operator, session, error)
    return _see_other(f"/ui/admin/chefs-de-file?modifie={chef_id}")


# --- clients --------------------------------------------------------------------------------


@router.get("/clients", name="console_admin_clients")
async def clients(request: Request, operator: Operator, session: Session) -> HTMLResponse:
    return await _clients(request, operator, session)


async def _clients(
    request: Request,
    operator: DeskSession,
    session: Session,
    error: Exception | None = None,
    form: Form | None = None,
) -> HTMLResponse:
    found = await parties.list_clients(session)
    context = {
        "items": [
            {
                **views.client(c),
                "mandataire": c.mandataire.nom,
                "chefDeFile": c.chef_de_file.nom if c.chef_de_file else None,
            }
            for c in found
        ],
        "mandataires": [views.mandataire(m) for m in await parties.list_mandataires(session)],
        "chefs": [views.chef_de_file(c) for c in await parties.list_chefs_de_file(session)],
        "nav": "clients",
        "form": form or {},
    }
    return _with_error(request, "admin/clients.html", context, operator, error)


@router.post("/clients")
async def create_client(
    request: Request, operator: Operator, form: Posted, session: Session
) -> Response:
    try:
        body = ClientCreate.model_validate(
            {
                "nom": form.get("nom"),
                "mandataireId": form.get("mandataire"),
                "chefDeFileId": form.get("chef_de_file") or None,
                "isActive": True,
                "legacyId": form.get("legacy_id") or None,
            }
        )
        client, token = await parties.create_client(session, body)
        # Committed before the token is shown: a token on screen always works.
        await session.commit()
    except (ValidationError, GuichetError) as error:
        await session.rollback()
        return await _clients(request, operator, session, error, form)
    log.info("console.client_created", client_id=client.id)
    return _token_page(request, operator, views.client(client), token, created=True)


def _token_page(
    request: Request, operator: DeskSession, client: dict[str, Any], token: str, *, created: bool
) -> HTMLResponse:
    context = {"client": client, "token": token, "created": created, "nav": "clients"}
    return desk.page(request, "admin/client_token.html", context, operator)


@router.post("/clients/{client_id}/jeton")
async def renew_token(
    request: Request, client_id: str, operator: Operator, form: Posted, session: Session
) -> Response:
    try:
        client = await load(session, Client, "Client", client_id)
        token = await parties.renew_token(session, client)
        await session.commit()
    except GuichetError as error:
        await session.rollback()
        return await _clients(request, operator, session, error)
    log.info("console.client_token_renewed", client_id=client.id)
    return _token_page(request, operator, views.client(client), token, created=False)


@router.post("/clients/{client_id}/activation")
async def set_client_active(
    request: Request, client_id: str, operator: Operator, form: Posted, session: Session
) -> Response:
    try:
        client = await load(session, Client, "Client", client_id)
        body = ClientUpdate(isActive=form.get("actif") == "oui")
        await parties.update_client(session, client, body)
    except (ValidationError, GuichetError) as error:
        await session.rollback()
        return await _clients(request, operator, session, error)
    return _see_other(f"/ui/admin/clients?modifie={client_id}")


# --- habilitations and revisions ------------------------------------------------------------


@router.get("/habilitations", name="console_admin_habilitations")
async def pending_habilitations(
    request: Request, operator: Operator, session: Session, page: str | None = None
) -> HTMLResponse:
    return await _habilitations(request, operator, session, page_number(page))


async def _habilitations(
    request: Request,
    operator: DeskSession,
    session: Session,
    number: int = 1,
    error: Exception | None = None,
) -> HTMLResponse:
    total = await admin_reads.pending_habilitations_count(session)
    pages = Pages(number, admin_reads.PAGE_SIZE, total, "/ui/admin/habilitations")
    items = await admin_reads.pending_habilitations(session, pages)
    context = {"items": items, "pages": pages, "nav": "habilitations"}
    return _with_error(request, "admin/habilitations.html", context, operator, error)


@router.post("/habilitations/{habilitation_id}/valider")
async def validate_habilitation(
    request: Request, habilitation_id: str, operator: Operator, form: Posted, session: Session
) -> Response:
    try:
        found = await habilitations.load(session, habilitation_id)
        await habilitations.accept_by_admin(session, found, _settings(request).habilitations)
    except GuichetError as error:
        await session.rollback()
        return await _habilitations(request, operator, session, error=error)
    log.info("console.habilitation_validated", habilitation_id=habilitation_id)
    return _see_other(f"/ui/admin/habilitations?validee={habilitation_id}")


@router.get("/revisions", name="console_admin_revisions")
async def waiting_revisions(
    request: Request, operator: Operator, session: Session, page: str | None = None
) -> HTMLResponse:
    total = await admin_reads.waiting_or_refused_count(session)
    pages = Pages(page_number(page), admin_reads.PAGE_SIZE, total, "/ui/admin/revisions")
    items = await admin_reads.waiting_or_refused_revisions(session, pages)
    context = {"items": items, "pages": pages, "status": reads.status, "nav": "revisions"}
    return desk.page(request, "admin/revisions.html", context, operator)


# --- partners and their drop zone -----------------------------------------------------------


@router.get("/partenaires", name="console_admin_partners")
async def partner_list(
    request: Request, operator: Operator, session: Session, page: str | None = None
) -> HTMLResponse:
    return await _partners(request, operator, session, page_number(page))


async def _partners(
    request: Request,
    operator: DeskSession,
    session: Session,
    number: int = 1,
    error: Exception | None = None,
    form: Form | None = None,
) -> HTMLResponse:
    size = admin_reads.PAGE_SIZE
    _, total = await partners.list_partners(session, offset=0, limit=0)
    pages = Pages(number, size, total, "/ui/admin/partenaires")
    found, _ = await partners.list_partners(session, offset=pages.offset, limit=size)
    context = {"items": found, "pages": pages, "nav": "partenaires", "form": form or {}}
    return _with_error(request, "admin/partners.html", context, operator, error)


@router.post("/partenaires")
async def create_partner(
    request: Request, operator: Operator, form: Posted, session: Session
) -> Response:
    emails = [e for e in form.get("emails", "").replace(",", " ").split() if e]
    try:
        body = PartnerCreate.model_validate(
            {
                "partner_id": form.get("identifiant"),
                "name": form.get("nom") or None,
                "contact_emails": emails,
            }
        )
        partner, key = await partners.create(
            session, partner_id=body.partner_id, name=body.name, contact_emails=body.contact_emails
        )
        await session.commit()
    except (ValidationError, GuichetError) as error:
        await session.rollback()
        return await _partners(request, operator, session, error=error, form=form)
    return _partner_secret(request, operator, partner, api_key=key)


def _partner_secret(
    request: Request,
    operator: DeskSession,
    partner: Partner,
    *,
    api_key: str | None = None,
    dropzone: provisioning.Provisioned | None = None,
) -> HTMLResponse:
    context = {"partner": partner, "api_key": api_key, "dropzone": dropzone, "nav": "partenaires"}
    return desk.page(request, "admin/partner_secret.html", context, operator)


@router.get("/partenaires/{partner_id}", name="console_admin_partner")
async def partner_detail(
    request: Request,
    partner_id: str,
    operator: Operator,
    session: Session,
    page: str | None = None,
) -> HTMLResponse:
    partner = await partners.get(session, partner_id)
    return await _partner(request, operator, session, partner, page_number(page))


async def _partner(
    request: Request,
    operator: DeskSession,
    session: Session,
    partner: Partner,
    number: int = 1,
    error: Exception | None = None,
) -> HTMLResponse:
    size = admin_reads.PAGE_SIZE
    _, total = await operators.list_runs(session, partner, offset=0, limit=0)
    pages = Pages(number, size, total, f"/ui/admin/partenaires/{partner.partner_id}")
    runs, _ = await operators.list_runs(session, partner, offset=pages.offset, limit=size)
    try:
        bucket = await provisioning.get_bucket(session, partner)
    except provisioning.BucketNotProvisioned:
        bucket = None
    context = {
        "partner": partner,
        "bucket": bucket,
        "dropzone_on": backends.current_or_none() is not None,
        "runs": [(run, partner.partner_id) for run in runs],
        "pages": pages,
        "nav": "partenaires",
    }
    return _with_error(request, "admin/partner.html", context, operator, error)


@router.post("/partenaires/{partner_id}/cle")
async def rotate_partner_key(
    request: Request, partner_id: str, operator: Operator, form: Posted, session: Session
) -> Response:
    partner = await partners.get(session, partner_id)
    key = await partners.rotate_key(session, partner)
    await session.commit()
    return _partner_secret(request, operator, partner, api_key=key)


@router.post("/partenaires/{partner_id}/activation")
async def set_partner_active(
    partner_id: str, operator: Operator, form: Posted, session: Session
) -> Response:
    partner = await partners.get(session, partner_id)
    await partners.update(session, partner, is_active=form.get("actif") == "oui")
    return _see_other(f"/ui/admin/partenaires/{partner_id}")


@router.post("/partenaires/{partner_id}/depot/{action}")
async def dropzone_action(
    request: Request,
    partner_id: str,
    action: str,
    operator: Operator,
    form: Posted,
    session: Session,
) -> Response:
    """provision (`creer`), rotate (`rotation`) or revoke (`revocation`) the drop zone's key."""
    partner = await partners.get(session, partner_id)
    settings = _settings(request).dropzone
    try:
        backend = backends.current()
        if action == "creer":
            done = await provisioning.provision(session, backend, settings, partner)
        elif action == "rotation":
            done = await provisioning.rotate(session, backend, settings, partner)
        elif action == "revocation":
            await provisioning.revoke(session, backend, partner)
            return _see_other(f"/ui/admin/partenaires/{partner_id}")
        else:
            return _see_other(f"/ui/admin/partenaires/{partner_id}")
        await session.commit()
    except (GuichetError, backends.BackendUnavailable) as error:
        await session.rollback()
        return await _partner(request, operator, session, partner, error=error)
    return _partner_secret(request, operator, partner, dropzone=done)


@router.get("/partenaires/{partner_id}/executions/{run_id}", name="console_admin_run")
async def run_detail(
    request: Request,
    partner_id: str,
    run_id: uuid.UUID,
    operator: Operator,
    session: Session,
    page: str | None = None,
) -> HTMLResponse:
    partner = await partners.get(session, partner_id)
    run = RunRead.model_validate(await operators.get_run(session, partner, run_id))
    _, total = await operators.list_run_errors(session, partner, run_id, offset=0, limit=0)
    base = f"/ui/admin/partenaires/{partner_id}/executions/{run_id}"
    pages = Pages(page_number(page), ERRORS_PAGE_SIZE, total, base)
    errors, _ = await operators.list_run_errors(
        session, partner, run_id, offset=pages.offset, limit=pages.size
    )
    context = {
        "partner": partner,
        "run": run,
        "errors": errors,
        "pages": pages,
        "nav": "executions",
        "report_text": _report_message(run.report),
    }
    return desk.page(request, "admin/run.html", context, operator)


def _report_message(report: dict[str, Any]) -> str | None:
    """A refused file's answer carries its reason as a string in `errors`."""
    errors = report.get("errors")
    return errors if isinstance(errors, str) else None


@router.get("/executions", name="console_admin_runs")
async def all_runs(
    request: Request, operator: Operator, session: Session, page: str | None = None
) -> HTMLResponse:
    total = await admin_reads.runs_count(session)
    pages = Pages(page_number(page), admin_reads.PAGE_SIZE, total, "/ui/admin/executions")
    runs = await admin_reads.all_runs(session, pages)
    return desk.page(
        request, "admin/runs.html", {"runs": runs, "pages": pages, "nav": "executions"}, operator
    )


# --- the job queue, the outbox, webhooks ----------------------------------------------------


@router.get("/travaux", name="console_admin_jobs")
async def jobs(
    request: Request, operator: Operator, session: Session, page: str | None = None
) -> HTMLResponse:
    return await _jobs(request, operator, session, page_number(page))


async def _jobs(
    request: Request, operator: DeskSession, session: Session, number: int, note: str | None = None
) -> HTMLResponse:
    stalled = _settings(request).worker.stalled_timeout
    total = await admin_reads.troubled_count(session, stalled)
    pages = Pages(number, admin_reads.PAGE_SIZE, total, "/ui/admin/travaux")
    items = await admin_reads.troubled_jobs(session, pages, stalled)
    context = {
        "items": items,
        "pages": pages,
        "nav": "travaux",
        "note": note,
        "json": lambda v: json.dumps(v, ensure_ascii=False),
    }
    return desk.page(request, "admin/jobs.html", context, operator)


@router.post("/travaux/{job_id}/relancer")
async def retry_job(
    request: Request, job_id: int, operator: Operator, form: Posted, session: Session
) -> Response:
    stalled = _settings(request).worker.stalled_timeout
    if not await admin_reads.retry_job(session, job_id, stalled):
        note = f"Le travail {job_id} n’est plus en échec ni bloqué."
        return await _jobs(request, operator, session, 1, note)
    log.info("console.job_retried", job_id=job_id)
    return _see_other(f"/ui/admin/travaux?relance={job_id}")


@router.get("/courriels", name="console_admin_outbox")
async def outbox(request: Request, operator: Operator, page: str | None = None) -> HTMLResponse:
    settings = _settings(request)
    smtp = settings.smtp.host is not None
    files = [] if smtp else admin_reads.outbox_files(settings.outbox_dir)
    pages = Pages(page_number(page), admin_reads.PAGE_SIZE, len(files), "/ui/admin/courriels")
    mails = [] if smtp else admin_reads.outbox(settings.outbox_dir, pages)
    context = {
        "smtp": smtp,
        "mails": mails,
        "pages": pages,
        "nav": "courriels",
        "directory": str(settings.outbox_dir),
    }
    return desk.page(request, "admin/outbox.html", context, operator)


@router.get("/webhooks", name="console_admin_webhooks")
async def webhook_subscriptions(
    request: Request, operator: Operator, session: Session
) -> HTMLResponse:
    found = await webhooks.list_subscriptions(session, None)
    items = [webhooks.subscription_view(s) for s in found]
    return desk.page(request, "admin/webhooks.html", {"items": items, "nav": "webhooks"}, operator)


@router.get("/webhooks/{subscription_id}", name="console_admin_deliveries")
async def webhook_deliveries(
    request: Request,
    subscription_id: str,
    operator: Operator,
    session: Session,
    page: str | None = None,
) -> HTMLResponse:
    subscription = await webhooks.load_subscription(session, subscription_id, None)
    size = admin_reads.PAGE_SIZE
    number = page_number(page)
    # No count in the front: one more row than a page tells whether a next page exists.
    found = await webhooks.list_deliveries(
        session, subscription_id, limit=size + 1, offset=(number - 1) * size
    )
    context = {
        "subscription": webhooks.subscription_view(subscription),
        "items": [webhooks.delivery_view(d) for d in found[:size]],
        "number": number,
        "has_next": len(found) > size,
        "nav": "webhooks",
    }
    return desk.page(request, "admin/deliveries.html", context, operator)


# --- statistics -----------------------------------------------------------------------------


@router.get("/statistiques", name="console_admin_stats")
async def statistics(request: Request, operator: Operator, session: Session) -> HTMLResponse:
    """The stats routes' data over the last 30 days, drawn with the DSFR's chart components
    (and written as tables too: the charts need JavaScript, the tables do not)."""
    now = utcnow()
    when = stats.Period(now - dt.timedelta(days=STATS_DAYS - 1), now)
    publications = await stats.publications(session, when)
    firsts = await stats.firsts_publications(session, when)
    by_day = {
        item["date"]: sum(c["total"] for c in item["publishedBAL"].values())
        for item in publications
    }
    days = [item["date"] for item in firsts]
    run_statuses = await _runs_by_status(session)
    context = {
        "days": days,
        "published": [by_day.get(day, 0) for day in days],
        "firsts": [item["totalCreations"] for item in firsts],
        "run_statuses": run_statuses,
        "chart": _chart_attribute,
        "nav": "statistiques",
    }
    return desk.page(request, "admin/stats.html", context, operator)


async def _runs_by_status(session: Session) -> list[tuple[str, int]]:
    """Runs per status over every partner: the operators' API pages through the same runs."""
    rows = await session.execute(
        select(Run.status, func.count()).group_by(Run.status).order_by(Run.status)
    )
    return [(status, int(count)) for status, count in rows.all()]


def _chart_attribute(values: list[Any]) -> str:
    """A series as the chart components read it: a JSON list of lists."""
    return json.dumps([values], ensure_ascii=False)
