"""ProConnect habilitations (§2.4 #21–22, §3.4) against a local OpenID Connect provider: a real
HTTP server on a loopback port publishing a discovery document, a JWKS (RSA keys generated
here), an authorization endpoint, a token endpoint giving a signed ID token and a userinfo
endpoint giving a signed JWT. The full flow goes through the real app, PostgreSQL and a local
Annuaire; every bad token, state, nonce or session is refused and nothing is accepted."""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.core import services
from guichet.core.config import Settings
from guichet.depot import proconnect
from guichet.depot.models import Habilitation
from guichet.runtime.app import create_app
from tests.conftest import make_settings
from tests.depot.conftest import ADMIN_TOKEN, create_habilitation
from tests.depot.factories import Parties

CLIENT_ID = "guichet-client-id"
CLIENT_SECRET = "guichet-client-secret"
MAIRIE_SIRET = "21310591100015"  # Escoulis' mairie in the local Annuaire (conftest)
OTHER_SIRET = "13002526500013"  # an organisation that is no mairie of Escoulis
BACK = "https://editeur.example/bal/retour?x=1"
PUBLIC_URL = "http://testserver"

_KEY = RSAKey.generate_key(2048, parameters={"kid": "provider-key"}, private=True)
# Same key id, another key: what a forger without the provider's private key can do at best.
_FORGED = RSAKey.generate_key(2048, parameters={"kid": "provider-key"}, private=True)
_UNKNOWN = RSAKey.generate_key(2048, parameters={"kid": "unknown-key"}, private=True)


def _nest(status: int, message: str) -> dict[str, Any]:
    return {"statusCode": status, "message": message}


# --- the provider ---------------------------------------------------------------------------


@dataclass
class Behaviour:
    """What the provider does wrong (or right) in one test."""

    siret: str = MAIRIE_SIRET
    id_key: RSAKey = field(default_factory=lambda: _KEY)
    userinfo_key: RSAKey = field(default_factory=lambda: _KEY)
    id_claims: dict[str, Any] = field(default_factory=dict)  # overrides
    userinfo_claims: dict[str, Any] = field(default_factory=dict)
    userinfo_as_json: bool = False
    unsigned_id_token: bool = False
    token_status: int = 200
    discovery_status: int = 200


class Provider:
    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}/api/v2"
        self.behaviour = Behaviour()
        self.codes: dict[str, dict[str, str]] = {}  # code → the authorization request
        self.tokens: dict[str, str] = {}  # access token → subject
        self.token_requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "end_session_endpoint": f"{self.issuer}/session/end",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "userinfo_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "scopes_supported": ["openid", "siret", "email"],
        }

    def sign(self, key: RSAKey, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)

    def id_token(self, request: dict[str, str], subject: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": subject, "aud": CLIENT_ID, "exp": now + 60, "iat": now,
            "nonce": request["nonce"], "acr": "eidas1",
        }  # fmt: skip
        claims.update(self.behaviour.id_claims)
        if self.behaviour.unsigned_id_token:
            header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
            body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
            return f"{header}.{body}."
        return self.sign(self.behaviour.id_key, claims)

    def userinfo(self, subject: str) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": CLIENT_ID, "sub": subject, "iat": int(time.time()),
            "email": "agent@escoulis.fr", "given_name": "Alice", "usual_name": "Martin",
            "siret": self.behaviour.siret,
        }  # fmt: skip
        claims.update(self.behaviour.userinfo_claims)
        return claims

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"provider": self})


class _Handler(BaseHTTPRequestHandler):
    provider: ClassVar[Provider]

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path = url.path.removeprefix("/api/v2")
        if path == "/.well-known/openid-configuration":
            self._json(self.provider.behaviour.discovery_status, self.provider.discovery())
        elif path == "/jwks":
            self._json(200, {"keys": [_KEY.as_dict(private=False)]})
        elif path == "/authorize":
            self._authorize({k: v[0] for k, v in parse_qs(url.query).items()})
        elif path == "/userinfo":
            self._userinfo()
        else:
            self._json(404, {"error": "not_found"})

    def _authorize(self, query: dict[str, str]) -> None:
        """The agent signs in at once: back to the client with a one-time code."""
        code = secrets.token_urlsafe(16)
        with self.provider.lock:
            self.provider.codes[code] = query
        target = (
            query["redirect_uri"]
            + "?"
            + urlencode({"code": code, "state": query["state"], "iss": self.provider.issuer})
        )
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        self.provider.token_requests.append(form)
        if urlsplit(self.path).path != "/api/v2/token":
            self._json(404, {"error": "not_found"})
            return
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            self._json(401, {"error": "invalid_client"})
            return
        with self.provider.lock:
            request = self.provider.codes.pop(form.get("code", ""), None)  # one use only
        if request is None or form.get("redirect_uri") != request["redirect_uri"]:
            self._json(400, {"error": "invalid_grant"})
            return
        if self.provider.behaviour.token_status != 200:
            self._json(self.provider.behaviour.token_status, {"error": "server_error"})
            return
        subject = "agent-" + secrets.token_hex(4)
        access = secrets.token_urlsafe(24)
        self.provider.tokens[access] = subject
        self._json(200, {
            "access_token": access, "token_type": "Bearer", "expires_in": 60,
            "id_token": self.provider.id_token(request, subject),
        })  # fmt: skip

    def _userinfo(self) -> None:
        bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        subject = self.provider.tokens.get(bearer)
        if subject is None:
            self._json(401, {"error": "invalid_token"})
            return
        claims = self.provider.userinfo(subject)
        if self.provider.behaviour.userinfo_as_json:
            self._json(200, claims)
            return
        signed = self.provider.sign(self.provider.behaviour.userinfo_key, claims)
        self._send(200, signed.encode(), "application/jwt; charset=utf-8")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[Provider]:
    server = Provider()
    server.start()
    yield server
    server.stop()


def _settings(
    database_url: str, home: Path, annuaire_url: str, provider: Provider, **proconnect_: Any
) -> Settings:
    return make_settings(
        database_url,
        home,
        admin_token=ADMIN_TOKEN,
        public_url=PUBLIC_URL,
        habilitations={"annuaire_url": annuaire_url, "annuaire_timeout": 2},
        proconnect={
            "issuer": provider.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "timeout": 5,
            **proconnect_,
        },
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path, annuaire_url: str, provider: Provider) -> Settings:
    return _settings(database_url, tmp_path / "home", annuaire_url, provider)


# --- the browser's part ---------------------------------------------------------------------


@dataclass
class Callback:
    path: str  # the callback's path and query, as the provider redirected the browser
    cookie: str  # the flow cookie set by the start route
    authorize: dict[str, str]  # the authorization request the provider received


async def start_flow(
    client: httpx.AsyncClient, provider: Provider, habilitation_id: str, back: str = BACK
) -> Callback:
    """The start route, then the provider's sign-in, as a browser goes through them."""
    client.cookies.clear()
    started = await client.get(
        f"/habilitations/{habilitation_id}/authentication/proconnect", params={"redirectUrl": back}
    )
    assert started.status_code == 302, started.text
    cookie = started.cookies[proconnect.COOKIE]
    async with httpx.AsyncClient() as browser:
        signed_in = await browser.get(started.headers["location"])
    assert signed_in.status_code == 302
    target = urlsplit(signed_in.headers["location"])
    assert f"{target.scheme}://{target.netloc}" == PUBLIC_URL
    query = {k: v[0] for k, v in parse_qs(urlsplit(started.headers["location"]).query).items()}
    client.cookies.clear()
    return Callback(path=f"{target.path}?{target.query}", cookie=cookie, authorize=query)


async def finish(
    client: httpx.AsyncClient, flow: Callback, path: str | None = None
) -> httpx.Response:
    client.cookies.clear()
    cookie = {"Cookie": f"{proconnect.COOKIE}={flow.cookie}"} if flow.cookie else {}
    return await client.get(path or flow.path, headers=cookie)


async def _habilitation(session: AsyncSession, habilitation_id: str) -> Habilitation:
    session.expire_all()
    found = await session.get(Habilitation, habilitation_id)
    assert found is not None
    return found


# --- the flow -------------------------------------------------------------------------------


class TestFlow:
    async def test_mairie_agent_accepts(
        self, client: httpx.AsyncClient, parties: Parties, provider: Provider,
        session: AsyncSession, settings: Settings,
    ) -> None:  # fmt: skip
        party = parties.habilitation
        habilitation = await create_habilitation(client, party)
        flow = await start_flow(client, provider, habilitation["id"])
        # the authorization request: code flow, our client, our callback, fresh state and nonce
        assert flow.authorize["response_type"] == "code"
        assert flow.authorize["client_id"] == CLIENT_ID
        assert flow.authorize["redirect_uri"] == f"{PUBLIC_URL}/habilitations/proconnect/callback"
        assert flow.authorize["scope"] == "openid siret"
        assert len(flow.authorize["state"]) >= 32 and len(flow.authorize["nonce"]) >= 32
        assert flow.authorize["state"] != flow.authorize["nonce"]

        response = await finish(client, flow)
        assert response.status_code == 302, response.text
        assert response.headers["location"] == BACK
        # the flow cookie is dropped on the way back
        assert f'{proconnect.COOKIE}=""' in response.headers["set-cookie"]
        # the code went back to the provider once, with our credentials and callback
        (token_request,) = provider.token_requests
        assert token_request["grant_type"] == "authorization_code"
        assert token_request["redirect_uri"] == flow.authorize["redirect_uri"]

        body = (
            await client.get(f"/habilitations/{habilitation['id']}", headers=party.headers)
        ).json()
        assert body["status"] == "accepted"
        assert body["strategy"] == {"type": "proconnect"}
        assert body["acceptedAt"] is not None
        valid = await client.post(
            "/habilitations/are-valid", json={"ids": [habilitation["id"]]}, headers=party.headers
        )
        assert valid.json() == {habilitation["id"]: True}
        # embedded-style secret: generated once under the home, readable by its owner only
        secret = settings.home / proconnect.SECRET_FILE
        assert secret.stat().st_mode & 0o777 == 0o600

    async def test_cookie_attributes(
        self, client: httpx.AsyncClient, parties: Parties, provider: Provider
    ) -> None:
        habilitation = await create_habilitation(client, parties.habilitation)
        started = await client.get(
            f"/habilitations/{habilitation['id']}/authentication/proconnect",
            params={"redirectUrl": BACK},
        )
        header = started.headers["set-cookie"].lower()
        assert "httponly" in header and "samesite=lax" in header and "path=/habilitations" in header
        assert "secure" not in header  # plain HTTP here; see test_secure_cookie_over_tls
        # nothing of the flow is readable in clear text as a secret: the cookie is signed
        assert started.cookies[proconnect.COOKIE].count(".") == 2

    async def test_secure_cookie_over_tls(
        self, database_url: str, tmp_path: Path, annuaire_url: str, provider: Provider,
        parties: Parties,
    ) -> None:  # fmt: skip
        settings = _settings(database_url, tmp_path / "tls", annuaire_url, provider).model_copy(
            update={"public_url": "https://guichet.example/api-depot"}
        )
        app = create_app(settings, services.current())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
            habilitation = await create_habilitation(http, parties.habilitation)
            started = await http.get(
                f"/habilitations/{habilitation['id']}/authentication/proconnect",
                params={"redirectUrl": BACK},
            )
        header = started.headers["set-cookie"].lower()
        assert "secure" in header and "path=/api-depot/habilitations" in header
        query = parse_qs(urlsplit(started.headers["location"]).query)
        assert query["redirect_uri"] == [
            "https://guichet.example/api-depot/habilitations/proconnect/callback"
        ]

    async def test_other_organisation_rejects(
        self, client: httpx.AsyncClient, parties: Parties, provider: Provider
    ) -> None:
        party = parties.habilitation
        habilitation = await create_habilitation(client, party)
        provider.behaviour.siret = OTHER_SIRET
        response = await finish(client, await start_flow(client, provider, habilitation["id"]))
        assert response.status_code == 302
        assert response.headers["location"] == BACK
        body = (
            await client.get(f"/habilitations/{habilitation['id']}", headers=party.headers)
        ).json()
        assert body["status"] == "rejected"
        assert body["strategy"] == {
            "type": "proconnect",
            "authenticationError": "Le siret ne correspond à la commune",
        }
        assert body["acceptedAt"] is None and body["rejectedAt"] is not None

    async def test_mairie_deleguee_siret_accepts(
        self, client: httpx.AsyncClient, parties: Parties, provider: Provider
    ) -> None:
        """Any mairie of the commune counts, a mairie déléguée too (the Annuaire's records)."""
        habilitation = await create_habilitation(client, parties.habilitation)
        provider.behaviour.siret = "213 105 911 000 23"  # spaces as some directories write it
        response = await finish(client, await start_flow(client, provider, habilitation["id"]))
        assert response.status_code == 302
        body = (
            await client.get(
                f"/habilitations/{habilitation['id']}", headers=parties.habilitation.headers
            )
        ).json()
        assert body["status"] == "accepted"

    async def test_published_with_a_proconnect_habilitation(
        self, client: httpx.AsyncClient, parties: Parties, provider: Provider, bal_31591: bytes
    ) -> None:
        from tests.depot.helpers import computed

        party = parties.habilitation
        habilitation = await create_habilitation(client, party)
        assert (
            await finish(client, await start_flow(client, provider, habilitation["id"]))
        ).status_code == 302
        revision = await computed(client, party, bal_31591)
        published = await client.post(
            f"/revisions/{revision['id']}/publish",
            json={"habilitationId": habilitation["id"]},
            headers=party.headers,
        )
        assert published.status_code == 200, published.text
        assert published.json()["habilitation"]["strategy"] == {"type": "proconnect"}

    async def test_no_mairie_in_the_annuaire_leaves_it_pending(
        self, client: httpx.AsyncClient, parties: Parties, provider: Provider,
        session: AsyncSession,
    ) -> None:  # fmt: skip
        """An Annuaire without the commune's mairies (or down) never rejects: 424, pending."""
        habilitation = await create_habilitation(client, parties.habilitation, "75101")
        response = await finish(client, await start_flow(client, provider, habilitation["id"]))
        assert response.json() == _nest(
            424, "Impossible de vérifier le SIRET : aucune mairie de la commune dans l’Annuaire"
        )
        assert (await _habilitation(session, habilitation["id"])).status == "pending"


# --- what is refused, and leaves the habilitation pending ---------------------------------------

TOKEN_INVALID = _nest(400, "Jeton ProConnect non valide")

PROFILE_UNAVAILABLE = _nest(424, "Impossible de récupérer le profile")


def _set(name: str, value: Any) -> Callable[[Behaviour], None]:
    return lambda behaviour: setattr(behaviour, name, value)


def _id(**claims: Any) -> Callable[[Behaviour], None]:
    return lambda behaviour: behaviour.id_claims.update(claims)


def _userinfo(**claims: Any) -> Callable[[Behaviour], None]:
    return lambda behaviour: behaviour.userinfo_claims.update(claims)


BAD_PROVIDERS: list[tuple[str, Callable[[Behaviour], None], dict[str, Any]]] = [
    ("id token signed by another key", _set("id_key", _FORGED), TOKEN_INVALID),
    ("id token of an unknown key", _set("id_key", _UNKNOWN), TOKEN_INVALID),
    ("unsigned id token", _set("unsigned_id_token", True), TOKEN_INVALID),
    ("userinfo signed by another key", _set("userinfo_key", _FORGED), TOKEN_INVALID),
    ("userinfo not signed", _set("userinfo_as_json", True), TOKEN_INVALID),
    ("expired id token", _id(exp=int(time.time()) - 600), TOKEN_INVALID),
    ("id token for another client", _id(aud="someone-else"), TOKEN_INVALID),
    ("id token of another issuer", _id(iss="https://evil.example"), TOKEN_INVALID),
    ("userinfo for another client", _userinfo(aud="someone-else"), TOKEN_INVALID),
    ("userinfo of another user", _userinfo(sub="someone-else"), TOKEN_INVALID),
    ("id token of another flow", _id(nonce="another-nonce"), _nest(400, "Nonce invalide")),
    ("token endpoint failing", _set("token_status", 500), PROFILE_UNAVAILABLE),
]


@pytest.mark.parametrize(
    ("case", "spoil", "expected"), BAD_PROVIDERS, ids=[case for case, _, _ in BAD_PROVIDERS]
)
async def test_bad_tokens_are_refused(
    client: httpx.AsyncClient,
    parties: Parties,
    provider: Provider,
    session: AsyncSession,
    case: str,
    spoil: Callable[[Behaviour], None],
    expected: dict[str, Any],
) -> None:
    habilitation = await create_habilitation(client, parties.habilitation)
    spoil(provider.behaviour)
    response = await finish(client, await start_flow(client, provider, habilitation["id"]))
    assert (response.status_code, response.json()) == (expected["statusCode"], expected), case
    row = await _habilitation(session, habilitation["id"])
    assert (row.status, row.strategy_type, row.accepted_at) == ("pending", None, None)


class TestStateAndSession:
    async def test_wrong_or_missing_state(
        self, client: httpx.AsyncClient, parties: Parties, provider: Provider,
        session: AsyncSession,
    ) -> None:  # fmt: skip
        habilitation = await create_habilitation(client, parties.habilitation)
        flow = await start_flow(client, provider, habilitation["id"])
        code = parse_qs(urlsplit(flow.path).query)["code"][0]
        base = "/habilitations/proconnect/callback"
        for path in (f"{base}?code={code}&state=forged", f"{base}?code={code}"):
            response = await finish(client, flow, path)
            assert response.json() == _nest(400, "Invalid OAuth2 state")
        assert provider.token_requests == []  # refused before the code was used
        assert (await _habilitation(session, habilitation["id"])).status == "pending"

    async def test_missing_forged_or_expired_session(
        self, client: httpx.AsyncClient, parties: Parties, provider: Provider,
        settings: Settings, session: AsyncSession,
    ) -> None:  # fmt: skip
        habilitation = await create_habilitation(client, parties.habilitation)
        flow = await start_flow(client, provider, habilitation["id"])
        state = parse_qs(urlsplit(flow.path).query)["state"][0]
        row = await _habilitation(session, habilitation["id"])
        real = proconnect.Flow(
            state=state, nonce="n", habilitation_id=habilitation["id"], redirect_url=BACK,
            version=proconnect.version_of(row.updated_at),
        )  # fmt: skip
        forged = proconnect.seal(real, OctKey.import_key(os.urandom(32)), 600)
        expired = proconnect.seal(real, proconnect.cookie_key(settings), -120)
        for cookie in ("", "not-a-token", forged, expired):
            response = await finish(client, Callback(flow.path, cookie, flow.authorize))
            assert response.json() == _nest(400, "Session invalide"), cookie
        assert provider.token_requests == []
        assert (await _habilitation(session, habilitation["id"])).status == "pending"

    async def test_replayed_callback(
        self, client: httpx.AsyncClient, parties: Parties, provider: Provider,
        session: AsyncSession,
    ) -> None:  # fmt: skip
        habilitation = await create_habilitation(client, parties.habilitation)
        flow = await start_flow(client, provider, habilitation["id"])
        assert (await finish(client, flow)).status_code == 302
        before = await _habilitation(session, habilitation["id"])
        accepted_at, updated_at = before.accepted_at, before.updated_at
        replayed = await finish(client, flow)
        assert replayed.json() == _nest(400, "Session invalide")
        after = await _habilitation(session, habilitation["id"])
        assert (after.status, after.accepted_at, after.updated_at) == (
            "accepted", accepted_at, updated_at,
        )  # fmt: skip
        assert len(provider.token_requests) == 1  # the code was never sent twice

    async def test_replayed_rejection_cannot_become_acceptance(
        self, client: httpx.AsyncClient, parties: Parties, provider: Provider,
        session: AsyncSession,
    ) -> None:  # fmt: skip
        habilitation = await create_habilitation(client, parties.habilitation)
        provider.behaviour.siret = OTHER_SIRET
        flow = await start_flow(client, provider, habilitation["id"])
        assert (await finish(client, flow)).status_code == 302
        provider.behaviour.siret = MAIRIE_SIRET
        # a second flow started from the same cookie value gets nowhere either
        assert (await finish(client, flow)).json() == _nest(400, "Session invalide")
        assert (await _habilitation(session, habilitation["id"])).status == "rejected"

    async def test_flow_overtaken_by_another_change(
        self, client: httpx.AsyncClient, parties: Parties, provider: Provider,
        session: AsyncSession,
    ) -> None:  # fmt: skip
        """The habilitation changed after the flow started (here a second flow accepted it):
        the first flow's cookie no longer matches it."""
        habilitation = await create_habilitation(client, parties.habilitation)
        flow = await start_flow(client, provider, habilitation["id"])
        other = await start_flow(client, provider, habilitation["id"])
        assert (await finish(client, other)).status_code == 302  # accepted by the second flow
        assert (await finish(client, flow)).json() == _nest(400, "Session invalide")

    async def test_agent_cancels(
        self, client: httpx.AsyncClient, parties: Parties, provider: Provider,
        session: AsyncSession,
    ) -> None:  # fmt: skip
        habilitation = await create_habilitation(client, parties.habilitation)
        flow = await start_flow(client, provider, habilitation["id"])
        state = parse_qs(urlsplit(flow.path).query)["state"][0]
        path = f"/habilitations/proconnect/callback?error=access_denied&state={state}"
        response = await finish(client, flow, path)
        assert (response.status_code, response.headers["location"]) == (302, BACK)
        assert (await _habilitation(session, habilitation["id"])).status == "pending"


class TestStart:
    async def test_redirect_url_mandatory(
        self, client: httpx.AsyncClient, parties: Parties
    ) -> None:
        habilitation = await create_habilitation(client, parties.habilitation)
        response = await client.get(
            f"/habilitations/{habilitation['id']}/authentication/proconnect"
        )
        assert (response.status_code, response.text) == (400, "redirectUrl param is mandatory")
        response = await client.get(
            f"/habilitations/{habilitation['id']}/authentication/proconnect",
            params={"redirectUrl": "javascript:alert(1)"},
        )
        assert (response.status_code, response.text) == (400, "redirectUrl param is not correct")

    async def test_redirect_origins(
        self, database_url: str, tmp_path: Path, annuaire_url: str, provider: Provider,
        parties: Parties,
    ) -> None:  # fmt: skip
        settings = _settings(
            database_url, tmp_path / "h", annuaire_url, provider,
            redirect_origins=["https://editeur.example"],
        )  # fmt: skip
        app = create_app(settings, services.current())
        async with _client(app) as http:
            habilitation = await create_habilitation(http, parties.habilitation)
            path = f"/habilitations/{habilitation['id']}/authentication/proconnect"
            refused = await http.get(path, params={"redirectUrl": "https://evil.example/x"})
            assert (refused.status_code, refused.text) == (400, "redirectUrl param is not correct")
            allowed = await http.get(path, params={"redirectUrl": BACK})
            assert allowed.status_code == 302

    async def test_not_pending_goes_straight_back(
        self, client: httpx.AsyncClient, parties: Parties, provider: Provider
    ) -> None:
        habilitation = await create_habilitation(client, parties.habilitation)
        from tests.depot.conftest import ADMIN

        await client.put(f"/habilitations/{habilitation['id']}/validate", headers=ADMIN)
        response = await client.get(
            f"/habilitations/{habilitation['id']}/authentication/proconnect",
            params={"redirectUrl": BACK},
        )
        assert (response.status_code, response.headers["location"]) == (302, BACK)
        assert proconnect.COOKIE not in response.cookies

    async def test_habilitation_ids(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/habilitations/coucou/authentication/proconnect")
        assert response.json() == _nest(400, "Habilitation Id coucou is not ObjectId")
        unknown = "5f8d0d55b54764421b7156c9"
        response = await client.get(f"/habilitations/{unknown}/authentication/proconnect")
        assert response.json() == _nest(404, f"Habilitation {unknown} not found")

    async def test_provider_unreachable(
        self, client: httpx.AsyncClient, parties: Parties, provider: Provider
    ) -> None:
        habilitation = await create_habilitation(client, parties.habilitation)
        provider.behaviour.discovery_status = 503
        response = await client.get(
            f"/habilitations/{habilitation['id']}/authentication/proconnect",
            params={"redirectUrl": BACK},
        )
        assert response.json() == _nest(424, "Impossible de contacter ProConnect")

    async def test_not_configured(
        self, database_url: str, tmp_path: Path, parties: Parties
    ) -> None:
        settings = make_settings(database_url, tmp_path / "h", admin_token=ADMIN_TOKEN)
        app = create_app(settings, services.current())
        async with _client(app) as http:
            habilitation = await create_habilitation(http, parties.habilitation)
            response = await http.get(
                f"/habilitations/{habilitation['id']}/authentication/proconnect",
                params={"redirectUrl": BACK},
            )
            assert response.json() == _nest(503, "ProConnect n’est pas configuré sur ce service")
            response = await http.get("/habilitations/proconnect/callback?code=x&state=y")
            assert response.status_code == 503


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL)


class TestSeveralProcesses:
    async def test_started_on_one_app_finished_on_another(
        self, database_url: str, tmp_path: Path, annuaire_url: str, provider: Provider,
        parties: Parties, session: AsyncSession,
    ) -> None:  # fmt: skip
        """Two API processes: same database, same configured secret, nothing else shared (not
        even the home). The flow started on one is finished on the other."""
        secret = {"session_secret": "s" * 48}
        first = create_app(
            _settings(database_url, tmp_path / "a", annuaire_url, provider, **secret),
            services.current(),
        )
        second = create_app(
            _settings(database_url, tmp_path / "b", annuaire_url, provider, **secret),
            services.current(),
        )
        async with _client(first) as one, _client(second) as two:
            habilitation = await create_habilitation(one, parties.habilitation)
            flow = await start_flow(one, provider, habilitation["id"])
            response = await finish(two, flow)
            assert (response.status_code, response.headers["location"]) == (302, BACK)
        assert (await _habilitation(session, habilitation["id"])).status == "accepted"
        assert not (tmp_path / "a" / proconnect.SECRET_FILE).exists()  # the setting is used

    async def test_another_secret_refuses_the_cookie(
        self, database_url: str, tmp_path: Path, annuaire_url: str, provider: Provider,
        parties: Parties, session: AsyncSession,
    ) -> None:  # fmt: skip
        first = create_app(
            _settings(
                database_url, tmp_path / "a", annuaire_url, provider, session_secret="a" * 48
            ),
            services.current(),
        )
        second = create_app(
            _settings(
                database_url, tmp_path / "b", annuaire_url, provider, session_secret="b" * 48
            ),
            services.current(),
        )
        async with _client(first) as one, _client(second) as two:
            habilitation = await create_habilitation(one, parties.habilitation)
            flow = await start_flow(one, provider, habilitation["id"])
            assert (await finish(two, flow)).json() == _nest(400, "Session invalide")
        assert (await _habilitation(session, habilitation["id"])).status == "pending"


def test_production_requires_secret_and_origins(tmp_path: Path) -> None:
    base: dict[str, Any] = {
        "environment": "production",
        "database_url": "postgresql://u:p@db/guichet",
        "admin_token": "x" * 32,
        "home": tmp_path,
    }
    pc = {"issuer": "https://pc.example/api/v2", "client_id": "id", "client_secret": "s"}
    with pytest.raises(ValueError, match="SESSION_SECRET"):
        Settings(_env_file=None, **base, proconnect=pc)
    with pytest.raises(ValueError, match="REDIRECT_ORIGINS"):
        Settings(_env_file=None, **base, proconnect={**pc, "session_secret": "k" * 40})
    ok = Settings(
        _env_file=None, **base,
        proconnect={**pc, "session_secret": "k" * 40, "redirect_origins": ["https://e.example"]},
    )  # fmt: skip
    assert ok.proconnect.enabled


CALLERS = ("anonymous", "unknown", "deactivated", "other", "owner", "admin")


async def test_authorization_matrix(
    client: httpx.AsyncClient, session: AsyncSession, parties: Parties, provider: Provider
) -> None:
    """Both routes are public browser redirects (as in the reference): a token changes
    nothing, whoever sends it; what protects the flow is the signed cookie."""
    from tests.depot import factories
    from tests.depot.conftest import ADMIN

    deactivated = await factories.client(session, parties.mandataire, is_active=False)
    await session.commit()
    headers = {
        "anonymous": {},
        "unknown": {"Authorization": "Token " + "w" * 32},
        "deactivated": deactivated.headers,
        "other": parties.other.headers,
        "owner": parties.habilitation.headers,
        "admin": ADMIN,
    }
    habilitation = await create_habilitation(client, parties.habilitation)
    for caller in CALLERS:
        client.cookies.clear()
        started = await client.get(
            f"/habilitations/{habilitation['id']}/authentication/proconnect",
            params={"redirectUrl": BACK},
            headers=headers[caller],
        )
        assert started.status_code == 302, (caller, started.text)
        assert started.headers["location"].startswith(provider.issuer + "/authorize?")
        client.cookies.clear()
        callback = await client.get(
            "/habilitations/proconnect/callback?code=c&state=s", headers=headers[caller]
        )
        assert callback.json() == _nest(400, "Session invalide"), caller
