"""Publication statistics (§2.4 #36–38): first publications per commune, publications per day,
and the beta.gouv "incubateur" activity metrics.

Days are UTC days (the reference uses its server's time zone, UTC in production). The clients
"via Mes Adresses" and "via the moissonneur" are recognised by their `legacyId`, also for
`/stats/publications`, whose counts the reference always left at 0 (§9 defect 10).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from guichet.depot import errors
from guichet.depot.models import Client, Revision

MES_ADRESSES = "mes-adresses"
MOISSONNEUR = "moissonneur-bal"

JSON = dict[str, Any]


@dataclass(frozen=True)
class Period:
    """From the start of `from`'s day to the end of `to`'s (both UTC)."""

    start: dt.datetime
    end: dt.datetime


def _parse_day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None


def period(from_: str | None, to: str | None, *, now: dt.datetime) -> Period:
    """The reference's date pipe: both dates or none (default: one month ago → now),
    `yyyy-MM-dd`, `from` not after `to`."""
    if bool(from_) != bool(to):
        raise errors.PipeError("Il manque une date from ou to")
    if not from_ or not to:
        return Period(_month_before(now), now)
    first, last = _parse_day(from_), _parse_day(to)
    if first is None or last is None:
        raise errors.PipeError("Les dates ne sont pas valides")
    if first > last:
        raise errors.PipeError("La date from est plus vielle que la date to")
    start = dt.datetime.combine(first, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(last, dt.time.max, tzinfo=dt.UTC)
    return Period(start, end)


def _month_before(now: dt.datetime) -> dt.datetime:
    """date-fns `sub(now, {months: 1})`: the same day a month earlier, clamped to its end."""
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    for day in range(now.day, 27, -1):
        try:
            return now.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return now.replace(year=year, month=month, day=min(now.day, 28))


async def _legacy_ids(session: AsyncSession, client_ids: set[str]) -> dict[str, str | None]:
    if not client_ids:
        return {}
    rows = await session.execute(
        select(Client.id, Client.legacy_id).where(Client.id.in_(client_ids))
    )
    return {row.id: row.legacy_id for row in rows.all()}


def _days(start: dt.datetime, end: dt.datetime) -> list[dt.date]:
    first, last = start.date(), end.date()
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


async def firsts_publications(session: AsyncSession, when: Period) -> list[JSON]:
    """One item per day of the period: how many communes had had their first publication by
    the end of that day (cumulative), and how many of those first ones came from Mes Adresses
    or the moissonneur."""
    firsts = (
        await session.execute(
            select(Revision.code_commune, Revision.published_at, Revision.client_id)
            .where(Revision.published_at.is_not(None))
            .ext(distinct_on(Revision.code_commune))
            .order_by(Revision.code_commune, Revision.published_at, Revision.id)
        )
    ).all()
    legacy = await _legacy_ids(session, {row.client_id for row in firsts})
    items: list[JSON] = []
    for day in _days(when.start, when.end):
        # strictly before the day's last millisecond: the reference's endOfDay comparison
        midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
        limit = midnight - dt.timedelta(milliseconds=1)
        before = [row for row in firsts if row.published_at < limit]
        items.append(
            {
                "date": day.isoformat(),
                "totalCreations": len(before),
                "viaMesAdresses": sum(legacy.get(r.client_id) == MES_ADRESSES for r in before),
                "viaMoissonneur": sum(legacy.get(r.client_id) == MOISSONNEUR for r in before),
            }
        )
    return items


async def publications(session: AsyncSession, when: Period) -> list[JSON]:
    """Days with publications in the period, each with its communes' counts."""
    rows = (
        await session.execute(
            select(Revision.code_commune, Revision.published_at, Revision.client_id)
            .where(Revision.published_at.between(when.start, when.end))
            .order_by(Revision.published_at, Revision.id)
        )
    ).all()
    legacy = await _legacy_ids(session, {row.client_id for row in rows})
    by_day: dict[str, dict[str, JSON]] = {}
    for row in rows:
        day = row.published_at.astimezone(dt.UTC).date().isoformat()
        counts = by_day.setdefault(day, {}).setdefault(
            row.code_commune, {"total": 0, "viaMesAdresses": 0, "viaMoissonneur": 0}
        )
        counts["total"] += 1
        counts["viaMesAdresses"] += legacy.get(row.client_id) == MES_ADRESSES
        counts["viaMoissonneur"] += legacy.get(row.client_id) == MOISSONNEUR
    return [{"date": day, "publishedBAL": communes} for day, communes in by_day.items()]


def _since(now: dt.datetime, *, years: int = 0, months: int = 0, weeks: int = 0) -> dt.datetime:
    if years:
        try:
            return now.replace(year=now.year - years)
        except ValueError:  # 29 February
            return now.replace(year=now.year - years, day=28)
    if months:
        return _month_before(now)
    return now - dt.timedelta(weeks=weeks)


def _active(published: dt.datetime | None, since: dt.datetime) -> int:
    return int(published is not None and since <= published)


async def metrics_incubateur(
    session: AsyncSession, *, offset: int, limit: int | None, now: dt.datetime
) -> JSON:
    """Per commune with any revision (by code): `tu` 1, `yau`/`mau`/`wau` 1 when its latest
    publication is less than a year / a month / a week old."""
    latest = (
        select(Revision.code_commune, func.max(Revision.published_at).label("published_at"))
        .group_by(Revision.code_commune)
        .order_by(Revision.code_commune)
        .offset(offset)
    )
    if limit is not None:
        latest = latest.limit(limit)
    count = await session.scalar(select(func.count(func.distinct(Revision.code_commune))))
    year, month, week = _since(now, years=1), _since(now, months=1), _since(now, weeks=1)
    results = []
    for code, published in (await session.execute(latest)).all():
        metrics = {
            "tu": 1,
            "yau": _active(published, year),
            "mau": _active(published, month),
            "wau": _active(published, week),
        }
        results.append({"insee": code, "metrics": metrics})
    return {"count": count or 0, "results": results}
