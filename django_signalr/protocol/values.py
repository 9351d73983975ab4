"""How Python values become JSON, shared by every JSON writer.

orjson already writes dataclasses as objects, UUIDs as strings and datetimes as ISO 8601; the
options below make UTC (and naive, which Django treats as UTC under ``USE_TZ``) end in ``Z`` as
.NET does. ``bytes`` has no JSON form, so it becomes base64 like a .NET ``byte[]``.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS


def json_default(value: Any) -> Any:
    """orjson's fallback for the types it does not know."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """Serialize one value (or a whole message dict) to compact UTF-8 JSON."""
    return orjson.dumps(value, default=json_default, option=JSON_OPTIONS)
