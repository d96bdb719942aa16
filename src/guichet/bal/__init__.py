"""guichet.bal — the BAL validator, reference-exact with @ban-team/validateur-bal 3.5.2.

Pure package: it imports nothing from the server and reads no settings.

    >>> from guichet.bal import validate
    >>> report = validate(b"...", "1.4")
    >>> report.is_valid, report.summary()["profilErrors"]
"""

from guichet.bal._ban import HttpBanLookup
from guichet.bal._crossrows import BanLookup
from guichet.bal._report import FileError, Problem, Report
from guichet.bal._schema import PROFILES, UnknownProfileError, label_of, level_of
from guichet.bal._validate import detect_profile, validate

__all__ = [
    "PROFILES",
    "BanLookup",
    "FileError",
    "HttpBanLookup",
    "Problem",
    "Report",
    "UnknownProfileError",
    "detect_profile",
    "label_of",
    "level_of",
    "validate",
]
