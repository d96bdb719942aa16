"""What the publication API reads from the national address base (BAN) API.

The reference service compares a new file's row count with the commune's number of addresses
in the BAN when the commune has no current revision (mass-deletion guard); any failure counts as
0 addresses, so an unreachable BAN never blocks a publication.
"""

from __future__ import annotations

import httpx

from guichet.core.config import BanSettings
from guichet.core.logging import get_logger

log = get_logger(__name__)


def api(settings: BanSettings) -> tuple[str, float] | None:
    """The BAN API as the validator's pool processes take it, or None when offline."""
    return None if settings.api_url is None else (settings.api_url.rstrip("/"), settings.timeout)


async def addresses_count(settings: BanSettings, code_commune: str) -> int:
    """``nbNumeros`` of ``GET {api}/lookup/{code}``; 0 when offline or on any failure."""
    if settings.api_url is None:
        return 0
    url = f"{settings.api_url.rstrip('/')}/lookup/{code_commune}"
    try:
        async with httpx.AsyncClient(timeout=settings.timeout, trust_env=False) as client:
            response = await client.get(url)
            response.raise_for_status()
            count = response.json().get("nbNumeros")
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        log.warning("depot.ban_lookup_failed", code_commune=code_commune, error=str(exc))
        return 0
    return count if isinstance(count, int) and count >= 0 else 0
