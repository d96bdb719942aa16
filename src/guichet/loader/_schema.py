"""The JSON Schema of the format Guichet accepts, shipped as package data."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SCHEMA_FILE = "loader-2.x.schema.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a loader file: structure and per-field rules.

    Identities, references between items, calendar validity and time zones are beyond a JSON
    Schema; `validate` checks those too, so a file it accepts always satisfies this schema.
    """
    text = resources.files("guichet.loader").joinpath("data", SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
