"""guichet.bal — the BAL validator, reference-exact with @ban-team/validateur-bal 3.5.2.

Pure package: it imports nothing from the server and reads no settings.

    >>> from guichet.bal import validate
    >>> report = validate(b"...", "1.4")
    >>> report.is_valid, report.summary()["profilErrors"]
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guichet.bal._ban import HttpBanLookup
    from guichet.bal._crossrows import BanLookup
    from guichet.bal._diff import (
        BalDiff,
        DiffPage,
        DiffSummary,
        Modification,
        UnreadableBalError,
        diff,
    )
    from guichet.bal._report import FileError, Problem, Report
    from guichet.bal._schema import PROFILES, UnknownProfileError, label_of, level_of
    from guichet.bal._validate import detect_profile, validate

# Every name is imported on first use: `guichet bal diff` does not pay for the validator's
# modules, `guichet bal validate` not for the diff's, and only servers need HttpBanLookup
# (its imports, logging and threading, would slow down the command line's start-up).
_MODULES = {
    "BanLookup": "_crossrows",
    "FileError": "_report",
    "Problem": "_report",
    "Report": "_report",
    "PROFILES": "_schema",
    "UnknownProfileError": "_schema",
    "label_of": "_schema",
    "level_of": "_schema",
    "detect_profile": "_validate",
    "validate": "_validate",
    "HttpBanLookup": "_ban",
    **dict.fromkeys(
        ("BalDiff", "DiffPage", "DiffSummary", "Modification", "UnreadableBalError", "diff"),
        "_diff",
    ),
}

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
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next lookups do not come here
    return value
