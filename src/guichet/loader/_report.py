"""The partner report (SPEC §5.1): validation refusals plus the server's integration outcomes.

The package fills in what validation knows; the server records, item by item, what integration
did (`Report.record` / `Report.fail`), then sends `Report.to_json`, the exact 200 body::

    report = Report(validation, now=started_at)
    for entry in validation.clients:
        account = ...                                # find or create; on failure:
        report.fail(entry, "compte impossible à créer")   # fails the entry's items too
        for item in report.pending(entry):           # valid, not yet failed, dependency order
            ...                                      # insert; then one of:
            report.record(item, Outcome.CREATED)     # or ALREADY_KNOWN, UPDATED, REMOVED
            report.fail(item, "…")                   # fails in-file dependents too
    body = report.to_json(end_date=finished_at)

An item nobody recorded counts as a success (`Outcome.VALID`): that is the offline verdict.

``errors`` holds the first `MAX_REPORTED_ERRORS` errors in the contract's shape; a file with more
gets two more keys, ``omitted_errors_count`` and ``omitted_errors`` (the others counted per
model, type, code and field): a file of a million invalid items answers a few hundred kilobytes,
not hundreds of megabytes, and every place that keeps or sends the report (the run, the e-mail)
keeps that bounded size.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice
from typing import Any

from guichet.loader._items import ClientEntry, Item, Reference, describe, link_key, singular
from guichet.loader._layout import Layout
from guichet.loader._models import REPORT_ORDER, Model
from guichet.loader._validate import Validation

INTEGRATION_ERROR = "IntegrationError"
MAX_REPORTED_ERRORS = 1000
"""Errors a report lists in full (about 250 kB); the rest are counted (see the module doc)."""
_ABSENT = {Model.PROPERTIES: "inconnue", Model.DECLARANTS: "inconnu"}


class Status(StrEnum):
    SUCCESS = "SUCCESS"
    PARTIAL_SUCCESS = "PARTIAL_SUCCESS"
    ERROR = "ERROR"


class Outcome(StrEnum):
    """What happened to one item (or client entry)."""

    VALID = "valid"
    """Passed validation; nothing recorded since (offline validation)."""
    CREATED = "created"
    UPDATED = "updated"
    ALREADY_KNOWN = "already_known"
    """Known external id, left unchanged (the 2.1+ "no modification after creation" rule)."""
    REMOVED = "removed"
    """A ``remove: "R"`` deletion request carried out."""
    INVALID = "invalid"
    """Refused by validation."""
    FAILED = "failed"
    """Refused at integration."""

    @property
    def is_success(self) -> bool:
        return self not in (Outcome.INVALID, Outcome.FAILED)


@dataclass(frozen=True, slots=True)
class ReportError:
    """One element of ``errors[]``."""

    model: Model
    type: str
    error: str
    created_at: dt.datetime
    id: str
    code: str = "integration"
    """The machine code (`Issue.code` of a validation refusal); not on the wire."""
    field: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": str(self.model),
            "type": self.type,
            "error": self.error,
            "created_at": wire_created_at(self.created_at),
            "id": self.id,
        }


Target = Item | ClientEntry


class Report:
    """Counts, status and errors of one loader file, as the contract renders them."""

    def __init__(self, validation: Validation, *, now: dt.datetime | None = None) -> None:
        self.validation = validation
        self.validated_at = now or dt.datetime.now(dt.UTC)
        self._items: dict[int, Outcome] = {}
        self._entries: dict[int, Outcome] = {}
        self._failures: list[ReportError] = []
        self._dependents: dict[int, list[Item]] | None = None

    # ---- what the server records -------------------------------------------------------------

    def record(self, target: Target, outcome: Outcome) -> None:
        """Record a successful integration outcome (use `fail` for failures)."""
        if not outcome.is_success:
            raise ValueError(f"record() takes a success, not {outcome}: use fail()")
        if self.outcome(target) in (Outcome.INVALID, Outcome.FAILED):
            raise ValueError(f"{target.label} was already refused")
        self._set(target, outcome)

    def fail(
        self,
        target: Target,
        reason: str,
        *,
        field: str | None = None,
        error_type: str = INTEGRATION_ERROR,
        at: dt.datetime | None = None,
        code: str = "integration",
    ) -> None:
        """Record an integration failure, and fail what depends on it in the file.

        A failed client entry fails all its items, even those recorded as created (the server
        rolls the entry back as a whole); a failed item fails the still pending in-file items that
        hang off it or point at it (transitively), each with its own error naming the cause.
        """
        if not target.is_valid:
            raise ValueError(f"{target.label} was refused by validation already")
        at = at or dt.datetime.now(dt.UTC)
        self._fail_one(target, reason, field, error_type, at, code)
        if isinstance(target, ClientEntry):
            cause = f"client '{target.label}' en échec"
            for item in target.items:
                if self.outcome(item) is not Outcome.INVALID:
                    self._fail_one(item, cause, "client", error_type, at, "client")
            return
        self._fail_dependents(target, error_type, at)

    def fail_unknown_reference(self, item: Item, reference: Reference) -> None:
        """Fail ``item`` because the server found no stored object for ``reference``."""
        noun = singular(reference.model)
        reason = f"{noun} '{reference.id}' {_ABSENT.get(reference.model, 'inconnu')}"
        self.fail(
            item, reason, field=reference.field, error_type="ValidationError", code="reference"
        )

    def pending(self, entry: ClientEntry | None = None) -> Iterator[Item]:
        """Valid items still without an outcome, in dependency order; failures recorded while
        iterating are honoured (a failed property's transactions are skipped)."""
        entries = self.validation.clients if entry is None else [entry]
        for current in entries:
            for item in current.items:
                if item.is_valid and item.seq not in self._items:
                    yield item

    def outcome(self, target: Target) -> Outcome:
        if not target.is_valid:
            return Outcome.INVALID
        if isinstance(target, ClientEntry):
            return self._entries.get(target.index, Outcome.VALID)
        return self._items.get(target.seq, Outcome.VALID)

    # ---- what the partner reads ----------------------------------------------------------------

    def tally(self) -> dict[Model, Counter[Outcome]]:
        """Outcomes per model present in the file, in report order (for emails and logs)."""
        tallies: dict[Model, Counter[Outcome]] = {model: Counter() for model in REPORT_ORDER}
        if self.validation.layout is Layout.CLIENTS:
            for entry in self.validation.clients:
                tallies[Model.CLIENTS][self.outcome(entry)] += 1
        for item in self.validation.items:
            tallies[item.model][self.outcome(item)] += 1
        return {model: tally for model, tally in tallies.items() if tally}

    def counts(self) -> dict[Model, tuple[int, int]]:
        """``(success, error)`` per model, as in ``combined_result``."""
        return {
            model: (
                sum(n for outcome, n in tally.items() if outcome.is_success),
                sum(n for outcome, n in tally.items() if not outcome.is_success),
            )
            for model, tally in self.tally().items()
        }

    def errors(self) -> list[ReportError]:
        """Validation refusals (file order), then integration failures (recording order)."""
        return list(self.iter_errors())

    def iter_errors(self) -> Iterator[ReportError]:
        """`errors`, one at a time (a million of them need not exist at once)."""
        at = self.validated_at
        for issue in self.validation.issues():
            yield ReportError(
                issue.model, issue.type, issue.message, at, issue.item_id, issue.code, issue.field
            )
        yield from self._failures

    def to_json(
        self, *, end_date: dt.datetime | None = None, max_errors: int = MAX_REPORTED_ERRORS
    ) -> dict[str, Any]:
        """The contract's 200 body, key for key; past `max_errors` errors, the others are
        counted in ``omitted_errors`` (see the module doc)."""
        counts = self.counts()
        success = sum(ok for ok, _ in counts.values())
        failed = sum(ko for _, ko in counts.values())
        errors = self.iter_errors()
        body: dict[str, Any] = {
            "status": str(status_of(success, failed)),
            "total_count": success + failed,
            "success_count": success,
            "failed_count": failed,
            "end_date": wire_end_date(end_date or dt.datetime.now(dt.UTC)),
            "errors": [error.to_json() for error in islice(errors, max_errors)],
            "combined_result": [
                {"model": str(model), "item": {"success": ok, "error": ko}}
                for model, (ok, ko) in counts.items()
            ],
        }
        omitted = omitted_errors(errors)
        if omitted:
            body["omitted_errors_count"] = sum(entry["count"] for entry in omitted)
            body["omitted_errors"] = omitted
        return body

    @property
    def status(self) -> Status:
        counts = self.counts().values()
        return status_of(sum(ok for ok, _ in counts), sum(ko for _, ko in counts))

    # ---- internals -------------------------------------------------------------------------------

    def _set(self, target: Target, outcome: Outcome) -> None:
        if isinstance(target, ClientEntry):
            self._entries[target.index] = outcome
        else:
            self._items[target.seq] = outcome

    def _fail_one(
        self,
        target: Target,
        reason: str,
        field: str | None,
        error_type: str,
        at: dt.datetime,
        code: str,
    ) -> None:
        if self.outcome(target) is Outcome.FAILED:
            return
        self._set(target, Outcome.FAILED)
        model = target.model if isinstance(target, Item) else Model.CLIENTS
        # "Champ 'id-prty' … invalide : propriété 'P9' inconnue" / "Élément … en échec : …"
        verdict = "en échec" if field is None else "invalide"
        message = describe(model, target.label, field, reason, verdict=verdict)
        failure = ReportError(model, error_type, message, at, target.label, code, field)
        self._failures.append(failure)

    def _fail_dependents(self, root: Item, error_type: str, at: dt.datetime) -> None:
        dependents = self._dependents_index()
        stack = [root]
        while stack:
            cause = stack.pop()
            reason = f"{singular(cause.model)} '{cause.label}' en échec"
            for item in dependents.get(cause.seq, ()):
                # Only pending items: what was already integrated stays integrated.
                if self.outcome(item) is Outcome.VALID:
                    field = link_key(item, cause)
                    self._fail_one(item, reason, field, error_type, at, "dependency")
                    stack.append(item)

    def _dependents_index(self) -> dict[int, list[Item]]:
        if self._dependents is None:
            self._dependents = {}
            for item in self.validation.items:
                for target in item.depends_on:
                    self._dependents.setdefault(target.seq, []).append(item)
        return self._dependents


def omitted_errors(errors: Iterable[ReportError]) -> list[dict[str, Any]]:
    """How many `errors` there are per model, type, code and field, the commonest first."""
    counter = Counter((error.model, error.type, error.code, error.field) for error in errors)
    return [
        {"model": str(model), "type": kind, "code": code, "field": field, "count": count}
        for (model, kind, code, field), count in counter.most_common()
    ]


def status_of(success: int, failed: int) -> Status:
    """All succeeded (an empty file too) / some failed / every item failed."""
    if failed == 0:
        return Status.SUCCESS
    return Status.ERROR if success == 0 else Status.PARTIAL_SUCCESS


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def wire_end_date(moment: dt.datetime) -> str:
    """``end_date`` as the contract's sample writes it: UTC, no offset, microseconds."""
    return _utc(moment).replace(tzinfo=None).isoformat(timespec="microseconds")


def wire_created_at(moment: dt.datetime) -> str:
    """``errors[].created_at`` as the sample writes it: UTC with a ``Z``, microseconds.

    (Qlower's sample stamps Paris local time with a ``Z``; we keep the format, with the true UTC.)
    """
    return _utc(moment).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
