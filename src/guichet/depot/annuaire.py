"""The Service-Public "Annuaire de l'administration": the mairies of a commune, their e-mail
addresses (where PIN codes may be sent) and SIRETs (ProConnect, later).

One call per lookup: `GET {annuaire_url}/catalog/datasets/api-lannuaire-administration/records`
with `where=pivot LIKE "mairie" AND code_insee_commune="<code>"` (every mairie, mairies
déléguées included), as the reference does. A record's `adresse_courriel` may hold several
addresses separated by `;`; only well-formed ones are kept, once each, in the Annuaire's order.
Any failure gives no mairie: the caller answers as if the commune had no address (the
reference's behaviour), and the failure is logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from guichet.core.config import HabilitationSettings
from guichet.core.logging import get_logger

log = get_logger(__name__)

DATASET_PATH = "/catalog/datasets/api-lannuaire-administration/records"
# The code is written into the Annuaire's query language: only a commune code's characters.
_COMMUNE_CODE = re.compile(r"[0-9][0-9AB][0-9]{3}")
# What the reference's regular expression accepts (lower-cased): a dotted local part or a
# quoted one, then a domain of letters, digits and hyphens with a TLD of 2+ letters (or an IP).
_EMAIL = re.compile(
    r'(?:[^<>()\[\]\\.,;:\s@"]+(?:\.[^<>()\[\]\\.,;:\s@"]+)*|".+")'
    r"@(?:\[(?:\d{1,3}\.){3}\d{1,3}\]|(?:[a-z\-\d]+\.)+[a-z]{2,})"
)


@dataclass(frozen=True)
class Mairie:
    nom: str | None
    emails: tuple[str, ...]
    siret: str | None


def is_valid_email(value: str) -> bool:
    return _EMAIL.fullmatch(value.lower()) is not None


def _emails(field: Any) -> tuple[str, ...]:
    if not isinstance(field, str):
        return ()
    return tuple(e for e in (part.strip() for part in field.split(";")) if is_valid_email(e))


def _mairie(record: Any) -> Mairie | None:
    if not isinstance(record, dict):
        return None
    siret = record.get("siret")
    nom = record.get("nom")
    return Mairie(
        nom=nom if isinstance(nom, str) else None,
        emails=_emails(record.get("adresse_courriel")),
        siret=siret if isinstance(siret, str) and siret else None,
    )


async def mairies(settings: HabilitationSettings, code_commune: str) -> list[Mairie]:
    """The commune's mairies in the Annuaire; [] for a malformed code or on any failure."""
    if _COMMUNE_CODE.fullmatch(code_commune) is None:
        return []
    where = f'pivot LIKE "mairie" AND code_insee_commune="{code_commune}"'
    url = settings.annuaire_url.rstrip("/") + DATASET_PATH
    try:
        async with httpx.AsyncClient(timeout=settings.annuaire_timeout, trust_env=False) as http:
            response = await http.get(url, params={"where": where, "limit": 100})
            response.raise_for_status()
            results = response.json().get("results")
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        log.warning("depot.annuaire_failed", code_commune=code_commune, error=str(exc))
        return []
    if not isinstance(results, list):
        log.warning("depot.annuaire_failed", code_commune=code_commune, error="no results")
        return []
    return [found for found in map(_mairie, results) if found is not None]


async def emails(settings: HabilitationSettings, code_commune: str) -> list[str]:
    """Every mairie e-mail address of the commune, once each, in the Annuaire's order."""
    found = await mairies(settings, code_commune)
    return list(dict.fromkeys(email for mairie in found for email in mairie.emails))
