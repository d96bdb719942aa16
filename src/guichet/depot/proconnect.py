"""ProConnect (OpenID Connect) for habilitations (§2.4 #21–22, §3.4): an agent of the mairie
signs in at the provider; the habilitation is accepted when the SIRET of the agent's
organisation is the SIRET of one of the commune's mairies in the Service-Public Annuaire (the
reference's rule), rejected otherwise.

The protocol's parts come from maintained libraries, nothing is hand-written: Authlib builds the
authorization request and the token request, joserfc verifies every JWT. Differences from the
reference, each deliberate (same routes, same redirects):

* the ID token **and** the userinfo JWT are verified against the provider's published keys
  (JWKS of the discovery document; asymmetric algorithms only), with their issuer, audience
  (our client id) and expiry; the userinfo's subject must be the ID token's. The reference
  decoded the userinfo without any verification (§9 defect 17) and never checked the ID token;
* the state, the nonce, the habilitation and the `redirectUrl` of a flow travel in a cookie
  signed with a secret of the installation (HttpOnly, SameSite=Lax, Secure over TLS, valid
  `session_max_age` seconds), not in one process's memory: any API process can finish a flow
  that another one started, and a restart loses nothing;
* the cookie is bound to the habilitation as it was when the flow started (its `updated_at`):
  once the callback has accepted or rejected it, the same cookie and code are refused
  (`Session invalide`), so a replayed callback changes nothing;
* `redirectUrl` must be an absolute http(s) URL of an allowed origin (setting
  `redirect_origins`; any origin when the list is empty, development only).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey

from guichet.core.config import ProConnectSettings, Settings
from guichet.core.logging import get_logger
from guichet.depot import errors

log = get_logger(__name__)

CALLBACK_PATH = "/habilitations/proconnect/callback"
COOKIE = "guichet_proconnect"
SECRET_FILE = "proconnect_secret"
DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
# Signatures the provider may use (ProConnect signs with RS256 or ES256). Never `none` nor an
# HMAC: a token "signed" with the provider's public key as a shared secret must not pass.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")
LEEWAY = 30  # seconds of clock difference tolerated on `exp`, `nbf` and `iat`
_COOKIE_ALGORITHM = "HS256"


@dataclass(frozen=True)
class Provider:
    """What the discovery document says about the provider."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    client_secret_post: bool  # else client_secret_basic, the default of the specification


@dataclass(frozen=True)
class Flow:
    """One sign-in in progress, as the signed cookie carries it."""

    state: str
    nonce: str
    habilitation_id: str
    redirect_url: str
    version: int  # the habilitation's `updated_at` when the flow started, in microseconds


@dataclass(frozen=True)
class Identity:
    subject: str
    siret: str | None


# --- installation ---------------------------------------------------------------------------


def load_or_create_secret(home: Path) -> str:
    """The cookie secret kept under `home` (mode 0600), created on first call."""
    path = home / SECRET_FILE
    home.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting together cannot write two different secrets.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)  # repair a copy made with a looser mode
        return path.read_text(encoding="ascii").strip()
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(secret + "\n")
    return secret


def cookie_key(settings: Settings) -> OctKey:
    """The key signing the flow cookie: from the settings, else the home's secret (production
    requires the setting, see `Settings`)."""
    configured = settings.proconnect.session_secret
    secret = (
        configured.get_secret_value()
        if configured is not None
        else load_or_create_secret(settings.home)
    )
    # A fixed-size key whatever the secret's length, and never the secret itself.
    return OctKey.import_key(
        hashlib.sha256(b"guichet-proconnect-cookie:" + secret.encode()).digest()
    )


def redirect_uri(settings: Settings) -> str:
    """The callback registered at the provider, on the configured public URL."""
    return settings.base_url + CALLBACK_PATH


def cookie_path(settings: Settings) -> str:
    """Sent back to both routes (they share `/habilitations`), under the public URL's path."""
    return urlsplit(settings.base_url).path.rstrip("/") + "/habilitations"


def is_secure(settings: Settings) -> bool:
    return settings.base_url.startswith("https://")


def is_allowed_redirect(url: str, origins: list[str]) -> bool:
    """An absolute http(s) URL whose origin is listed (any origin when none is)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    if not origins:
        return True
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    return any(origin == allowed.rstrip("/").lower() for allowed in origins)


# --- the flow cookie ------------------------------------------------------------------------


def new_flow(habilitation_id: str, redirect_url: str, updated_at: dt.datetime) -> Flow:
    return Flow(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        habilitation_id=habilitation_id,
        redirect_url=redirect_url,
        version=version_of(updated_at),
    )


def version_of(updated_at: dt.datetime) -> int:
    """A habilitation's `updated_at` as an exact integer (changes whenever the row does)."""
    return (updated_at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def seal(flow: Flow, key: OctKey, max_age: int) -> str:
    now = int(time.time())
    claims = {
        "st": flow.state,
        "no": flow.nonce,
        "hab": flow.habilitation_id,
        "url": flow.redirect_url,
        "ver": flow.version,
        "iat": now,
        "exp": now + max_age,
    }
    return jwt.encode({"alg": _COOKIE_ALGORITHM}, claims, key)


def unseal(value: str | None, key: OctKey) -> Flow:
    """The flow of a cookie signed by this installation and not expired; else 400
    `Session invalide`."""
    if not value:
        raise errors.ProConnectSessionInvalid()
    try:
        token = jwt.decode(value, key, algorithms=[_COOKIE_ALGORITHM])
        jwt.JWTClaimsRegistry(exp={"essential": True}).validate(token.claims)
        claims = token.claims
        flow = Flow(
            state=str(claims["st"]),
            nonce=str(claims["no"]),
            habilitation_id=str(claims["hab"]),
            redirect_url=str(claims["url"]),
            version=int(claims["ver"]),
        )
    except (JoseError, KeyError, TypeError, ValueError):
        raise errors.ProConnectSessionInvalid() from None
    return flow


# --- talking to the provider ----------------------------------------------------------------


def _http(settings: ProConnectSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=settings.timeout, trust_env=False)


def _discovery_url(settings: ProConnectSettings) -> str:
    if settings.discovery_url:
        return settings.discovery_url
    return (settings.issuer or "").rstrip("/") + DISCOVERY_SUFFIX


async def discover(settings: ProConnectSettings) -> Provider:
    """The provider's endpoints; its `issuer` must be the configured one (OpenID Connect
    Discovery §4.3), or tokens could come from anyone the document points to."""
    async with _http(settings) as http:
        response = await http.get(_discovery_url(settings))
        response.raise_for_status()
        document = response.json()
    if not isinstance(document, dict):
        raise ValueError("discovery document is not an object")
    if document.get("issuer") != settings.issuer:
        raise ValueError("discovery issuer differs from the configured issuer")
    methods = document.get("token_endpoint_auth_methods_supported") or []
    return Provider(
        issuer=_text(document, "issuer"),
        authorization_endpoint=_text(document, "authorization_endpoint"),
        token_endpoint=_text(document, "token_endpoint"),
        userinfo_endpoint=_text(document, "userinfo_endpoint"),
        jwks_uri=_text(document, "jwks_uri"),
        client_secret_post="client_secret_post" in methods and "client_secret_basic" not in methods,
    )


def _text(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"discovery document without {name}")
    return value


def authorization_url(provider: Provider, settings: Settings, flow: Flow) -> str:
    return str(
        prepare_grant_uri(
            provider.authorization_endpoint,
            client_id=settings.proconnect.client_id,
            response_type="code",
            redirect_uri=redirect_uri(settings),
            scope=settings.proconnect.scope,
            state=flow.state,
            nonce=flow.nonce,
        )
    )


async def identify(settings: Settings, flow: Flow, code: str) -> Identity:
    """Exchange the code, verify the ID token (signature, issuer, audience, expiry, nonce) and
    the userinfo JWT (signature, issuer, audience, subject): who signed in, and the SIRET of
    their organisation.

    Raises 424 `Impossible de récupérer le profile` when the provider cannot be reached or
    answers an error, 400 `Jeton ProConnect non valide` for a token that does not verify,
    400 `Nonce invalide` for an ID token of another flow.
    """
    pc = settings.proconnect
    try:
        provider = await discover(pc)
        async with _http(pc) as http:
            keys = KeySet.import_key_set(await _get_json(http, provider.jwks_uri))
            tokens = await _exchange(http, provider, settings, code)
            id_claims = _verify(tokens["id_token"], keys, provider, pc, essential_exp=True)
            if id_claims.get("nonce") != flow.nonce:
                raise errors.NonceInvalid()
            userinfo = await _userinfo(http, provider, tokens["access_token"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError, JoseError) as exc:
        log.warning("depot.proconnect_failed", reason=type(exc).__name__)
        raise errors.ProConnectProfileUnavailable() from None
    user_claims = _verify(userinfo, keys, provider, pc, essential_exp=False)
    if user_claims.get("sub") != id_claims.get("sub"):
        raise errors.ProConnectTokenInvalid()
    siret = user_claims.get("siret")
    return Identity(
        subject=str(id_claims["sub"]),
        siret="".join(siret.split()) if isinstance(siret, str) else None,
    )


async def _get_json(http: httpx.AsyncClient, url: str) -> Any:
    response = await http.get(url)
    response.raise_for_status()
    return response.json()


async def _exchange(
    http: httpx.AsyncClient, provider: Provider, settings: Settings, code: str
) -> dict[str, str]:
    pc = settings.proconnect
    client_auth = ClientAuth(
        pc.client_id,
        pc.client_secret.get_secret_value() if pc.client_secret else "",
        "client_secret_post" if provider.client_secret_post else "client_secret_basic",
    )
    body = prepare_token_request(
        "authorization_code", code=code, redirect_uri=redirect_uri(settings)
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    url, headers, body = client_auth.prepare("POST", provider.token_endpoint, headers, body)
    response = await http.post(url, content=body, headers=headers)
    response.raise_for_status()
    found = response.json()
    if not isinstance(found.get("id_token"), str) or not isinstance(found.get("access_token"), str):
        raise ValueError("token response without id_token or access_token")
    return {"id_token": found["id_token"], "access_token": found["access_token"]}


async def _userinfo(http: httpx.AsyncClient, provider: Provider, access_token: str) -> str:
    """The userinfo as a signed JWT (ProConnect's form); a plain JSON answer is refused,
    since nothing would prove where it comes from."""
    response = await http.get(
        provider.userinfo_endpoint,
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/jwt"},
    )
    response.raise_for_status()
    if response.headers.get("content-type", "").split(";")[0].strip() != "application/jwt":
        raise errors.ProConnectTokenInvalid()
    return response.text.strip()


def _verify(
    value: str,
    keys: KeySet,
    provider: Provider,
    settings: ProConnectSettings,
    *,
    essential_exp: bool,
) -> dict[str, Any]:
    try:
        token = jwt.decode(value, keys, algorithms=list(SIGNING_ALGORITHMS))
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": settings.client_id or ""},
            sub={"essential": True},
            exp={"essential": essential_exp},
        )
        registry.validate(token.claims)
    except JoseError as exc:
        log.warning("depot.proconnect_token_refused", reason=type(exc).__name__)
        raise errors.ProConnectTokenInvalid() from None
    claims: dict[str, Any] = token.claims
    return claims
