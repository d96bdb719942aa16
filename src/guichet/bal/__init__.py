"""guichet.bal — the BAL validator, reference-exact with @ban-team/validateur-bal 3.5.2.

Pure package: it imports nothing from the server and reads no settings.

    >>> from guichet.bal import validate
    >>> report = validate(b"...", "1.4")
    >>> report.is_valid, report.summary()["profilErrors"]
"""

from typing import TYPE_CHECKING, Any

from guichet.bal._crossrows import BanLookup
from guichet.bal._report import FileError, Problem, Report
from guichet.bal._schema import PROFILES, UnknownProfileError, label_of, level_of
from guichet.bal._validate import detect_profile, validate

if TYPE_CHECKING:
    from guichet.bal._ban import HttpBanLookup
    from guichet.bal._diff import (
        BalDiff,
        DiffPage,
        DiffSummary,
        Modification,
        UnreadableBalError,
        diff,
    )

# The diff's modules, imported on first use (`guichet bal validate` does not pay for them).
_DIFF_NAMES = frozenset(
    {"BalDiff", "DiffPage", "DiffSummary", "Modification", "UnreadableBalError", "diff"}
)

__all__ = [
    "PROFILES",
    "BalDiff",
    "BanLookup",
    "DiffPage",
    "DiffSummary",
    "FileError",
    "HttpBanLookup",
    "Modification",
    "Problem",
    "Report",
    "UnknownProfileError",
    "UnreadableBalError",
    "detect_profile",
    "diff",
    "label_of",
    "level_of",
    "validate",
]


def __getattr__(name: str) -> Any:
    """``HttpBanLookup`` imported on first use: only servers need it, and its imports (logging,
    threading) would slow down the command line's start-up."""
    if name == "HttpBanLookup":
        from guichet.bal._ban import HttpBanLookup

        return HttpBanLookup
    if name in _DIFF_NAMES:
        from guichet.bal import _diff

        return getattr(_diff, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
