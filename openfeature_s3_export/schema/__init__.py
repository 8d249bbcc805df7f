"""The JSON Schema of an exported row (schema v1), shipped inside the package.

``event-v1.schema.json`` describes one NDJSON line exactly as the file, S3, Firehose and Kinesis
sinks write it; ``docs/schema.md`` is the prose version.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Final

__all__ = ["SCHEMA_FILE", "load_json_schema"]

SCHEMA_FILE: Final = "event-v1.schema.json"
"""File name of the schema v1 JSON Schema inside this package."""


def load_json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of one exported row, as a new dict on every call.

    Use it to validate rows in a consumer, or to generate table definitions:

    .. code-block:: python

        import jsonschema
        from openfeature_s3_export import load_json_schema

        jsonschema.Draft202012Validator(load_json_schema()).validate(row)

    .. versionadded:: 0.1.0
    """
    text = resources.files(__name__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
