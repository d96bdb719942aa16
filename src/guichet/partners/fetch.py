"""Fetch a partner's `fileLink` into the blob store, without becoming an SSRF proxy.

* http and https only; at most `max_redirects` redirects, each target checked again from scratch;
* the host is resolved once, *every* address must be public (private, loopback, link-local,
  reserved… are refused unless the policy allows them, for tests), and the connection goes to
  the checked address (the request is pinned to it: TLS still verifies the real host name), so a
  DNS answer that changes between check and connect cannot redirect us;
* connect and read timeouts, no proxy from the environment, and a size cap enforced while
  streaming (nothing over the cap is kept: the blob store writes all or nothing).

`FetchRefused` is final (a bad link will not get better); `FetchFailed` is worth retrying.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from guichet.core.config import LoadersSettings
from guichet.core.storage import BlobStore, BlobTooLarge, StoredBlob

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_RETRYABLE_STATUSES = frozenset({408, 425, 429})
USER_AGENT = "Guichet-document-fetcher/1"


class FetchRefused(Exception):
    """The link cannot be fetched, and retrying will not help."""


class FetchFailed(Exception):
    """A transient failure (network, timeout, 5xx): retry later."""


# IPv6 ranges whose addresses carry an IPv4 address in their last 32 bits: NAT64's well-known
# prefix (RFC 6052) and the deprecated IPv4-compatible addresses (`::a.b.c.d`). A connection to
# `[64:ff9b::7f00:1]` reaches 127.0.0.1 through a NAT64 gateway; `ipaddress` calls it global.
_LAST_32_BITS_IPV4 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))
# RFC 8215's local-use NAT64 prefix: where it embeds the IPv4 address is the operator's choice,
# so none of it can be checked.
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


def is_public(address: IPAddress) -> bool:
    """A global unicast address, and for IPv6 every IPv4 address it embeds is one too."""
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address in _LOCAL_NAT64:
            return False
        return all(is_public(embedded) for embedded in embedded_ipv4(address))
    return True


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: IPv4-mapped (`::ffff:a.b.c.d`), 6to4
    (`2002:aabb:ccdd::`), Teredo (server and client), NAT64 and IPv4-compatible forms."""
    found = [
        embedded
        for embedded in (address.ipv4_mapped, address.sixtofour, *(address.teredo or ()))
        if embedded is not None
    ]
    if any(address in network for network in _LAST_32_BITS_IPV4):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def allow_all(address: IPAddress) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    max_bytes: int
    connect_timeout: float
    read_timeout: float
    max_redirects: int
    is_allowed: Callable[[IPAddress], bool] = is_public

    @classmethod
    def from_settings(cls, settings: LoadersSettings) -> FetchPolicy:
        return cls(
            max_bytes=settings.document_max_bytes,
            connect_timeout=settings.fetch_connect_timeout,
            read_timeout=settings.fetch_read_timeout,
            max_redirects=settings.fetch_max_redirects,
            is_allowed=allow_all if settings.fetch_allow_private_addresses else is_public,
        )


@dataclass(frozen=True, slots=True)
class Fetched:
    blob: StoredBlob
    content_type: str | None
    url: str
    """The final URL (after redirects)."""


async def resolve(host: str, port: int, policy: FetchPolicy) -> IPAddress:
    """One address of `host`, after checking that every address it resolves to is allowed."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchFailed(f"DNS resolution failed for {host!r}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise FetchFailed(f"no address for {host!r}")
    refused = [str(address) for address in addresses if not policy.is_allowed(address)]
    if refused:
        raise FetchRefused(f"{host!r} resolves to a non-public address ({', '.join(refused)})")
    return addresses[0]


def check_url(url: httpx.URL) -> None:
    if url.scheme not in ("http", "https"):
        raise FetchRefused(f"scheme {url.scheme!r} not allowed (http or https only)")
    if not url.host:
        raise FetchRefused("no host in the URL")


async def fetch(
    url: str, store: BlobStore, key: str, policy: FetchPolicy, *, client: httpx.AsyncClient
) -> Fetched:
    """Download `url` into `store` under `key`, following (and re-checking) redirects."""
    try:
        current = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FetchRefused(f"invalid URL: {exc}") from None
    for _ in range(policy.max_redirects + 1):
        check_url(current)
        response = await _send(client, current, policy)
        try:
            if response.is_redirect:
                location = response.headers.get("location", "")
                current = current.join(location)
                continue
            _raise_for_status(response.status_code)
            return await _store(response, store, key, policy, current)
        finally:
            await response.aclose()
    raise FetchRefused(f"more than {policy.max_redirects} redirects")


async def _send(client: httpx.AsyncClient, url: httpx.URL, policy: FetchPolicy) -> httpx.Response:
    address = await resolve(url.host, url.port or _default_port(url), policy)
    host_header = url.netloc.decode("ascii").rpartition("@")[2]  # no userinfo in Host
    pinned = url.copy_with(host=str(address))
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    request = client.build_request(
        "GET",
        pinned,
        headers={"Host": host_header, "User-Agent": USER_AGENT},
        extensions=extensions,
    )
    try:
        return await client.send(request, stream=True)
    except httpx.TimeoutException as exc:
        raise FetchFailed(f"timeout ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise FetchFailed(f"transport error ({type(exc).__name__})") from exc


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


def _raise_for_status(status: int) -> None:
    if status >= 500 or status in _RETRYABLE_STATUSES:
        raise FetchFailed(f"HTTP {status}")
    if status >= 300:
        raise FetchRefused(f"HTTP {status}")


async def _store(
    response: httpx.Response, store: BlobStore, key: str, policy: FetchPolicy, url: httpx.URL
) -> Fetched:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise FetchRefused(f"file of {declared} bytes, the limit is {policy.max_bytes}")
    content_type = response.headers.get("content-type")
    try:
        blob = await store.put_stream(
            key,
            response.aiter_bytes(),
            max_bytes=policy.max_bytes,
            content_type=content_type or "application/octet-stream",
        )
    except BlobTooLarge:
        raise FetchRefused(f"file larger than {policy.max_bytes} bytes") from None
    except httpx.TimeoutException as exc:
        raise FetchFailed(f"timeout ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise FetchFailed(f"transport error ({type(exc).__name__})") from exc
    return Fetched(blob, content_type, str(url))


def new_client(policy: FetchPolicy) -> httpx.AsyncClient:
    timeout = httpx.Timeout(
        connect=policy.connect_timeout,
        read=policy.read_timeout,
        write=policy.read_timeout,
        pool=policy.connect_timeout,
    )
    # trust_env=False: no proxy from the environment (it would connect for us, unchecked).
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False)
