"""guichet.loader — the partner "Loaders 2.0" JSON format: parse, validate item by item, report.

Pure package: it imports nothing from the server and reads no settings.

    >>> from guichet.loader import Report, validate_bytes
    >>> validation = validate_bytes(body, max_bytes=64_000_000)   # raises FileRejected (400 KO)
    >>> validation.header.partner_id, validation.is_valid
    >>> report = Report(validation)                  # the server records integration outcomes
    >>> report.to_json()                             # the 200 body of POST /api/third_party/loader
"""

from guichet.loader._errors import (
    FileRejected,
    FileTooLarge,
    InvalidStructure,
    InvalidValue,
    LoaderError,
    MissingKey,
    WrongFormat,
    internal_error_json,
)
from guichet.loader._header import Header, read_header
from guichet.loader._items import Client, ClientEntry, Issue, Item, Reference
from guichet.loader._layout import Layout
from guichet.loader._messages import pydantic_reason
from guichet.loader._models import Model
from guichet.loader._report import Outcome, Report, ReportError, Status
from guichet.loader._schema import json_schema
from guichet.loader._source import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_CONTAINERS,
    DEFAULT_MAX_DEPTH,
    load_json,
    read_file,
)
from guichet.loader._validate import Validation, validate, validate_bytes, validate_file

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_CONTAINERS",
    "DEFAULT_MAX_DEPTH",
    "Client",
    "ClientEntry",
    "FileRejected",
    "FileTooLarge",
    "Header",
    "InvalidStructure",
    "InvalidValue",
    "Issue",
    "Item",
    "Layout",
    "LoaderError",
    "MissingKey",
    "Model",
    "Outcome",
    "Reference",
    "Report",
    "ReportError",
    "Status",
    "Validation",
    "WrongFormat",
    "internal_error_json",
    "json_schema",
    "load_json",
    "pydantic_reason",
    "read_file",
    "read_header",
    "validate",
    "validate_bytes",
    "validate_file",
]
