"""BAN commune-id lookups: the reference asks the BAN API once per commune on every validation.

:class:`HttpBanLookup` does the same over HTTP with a timeout and a cache, so a server validating
many files asks once per commune per ``ttl``; failures are logged and answered ``None`` (exactly
what the reference does when the BAN API is unreachable: the check is skipped).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Final

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://plateforme.adresse.data.gouv.fr"


class HttpBanLookup:
    """``GET {base_url}/api/district/cog/{code}`` → ``response[0].id``, cached."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 3.0,
        ttl: float = 24 * 3600,
        failure_ttl: float = 60.0,
        max_entries: int = 50_000,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._ttl = ttl
        self._failure_ttl = failure_ttl
        self._max_entries = max_entries
        self._cache: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, code_commune: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(code_commune)
            if hit is not None and hit[0] > now:
                self._cache.move_to_end(code_commune)
                return hit[1]
        ban_id = self._fetch(code_commune)
        expires = now + (self._ttl if ban_id is not None else self._failure_ttl)
        with self._lock:
            self._cache[code_commune] = (expires, ban_id)
            self._cache.move_to_end(code_commune)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        return ban_id

    def _fetch(self, code_commune: str) -> str | None:
        # imported here: urllib.request (http.client, email, ssl…) is slow to import and only
        # the server, with a BAN API configured, ever calls this
        import urllib.parse
        import urllib.request

        url = f"{self._base_url}/api/district/cog/{urllib.parse.quote(code_commune, safe='')}"
        try:
            with urllib.request.urlopen(url, timeout=self._timeout) as response:
                body = json.loads(response.read(1_000_000))
        except (OSError, ValueError) as exc:  # URLError, HTTPError and timeouts are OSErrors
            logger.warning("BAN lookup failed for commune %s: %s", code_commune, exc)
            return None
        try:
            if body.get("status") == "success" and body.get("response"):
                ban_id = body["response"][0]["id"]
                return ban_id if isinstance(ban_id, str) and ban_id else None
        except (AttributeError, IndexError, KeyError, TypeError):
            pass
        logger.warning("BAN lookup: unexpected answer for commune %s", code_commune)
        return None
