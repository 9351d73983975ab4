"""Turning wire values into the types a hub method's parameters declare.

JSON has no bytes, datetimes, UUIDs or dataclasses; a client sends them as base64 strings, ISO
8601 strings, strings and objects (MessagePack sends bytes and datetimes natively). When a
parameter is annotated with one of those types, the argument is converted before the call, as
.NET converts to the declared parameter types. Anything else is passed through unchanged.
Converters are built once per method, when the hub's method table is built.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any

Converter = Callable[[Any], Any]


def _to_bytes(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error as error:
            raise ValueError("not a base64 string") from error
    return value


def _to_datetime(value: Any) -> Any:
    if isinstance(value, str):
        return datetime.datetime.fromisoformat(value)
    return value


def _to_uuid(value: Any) -> Any:
    if isinstance(value, str):
        return uuid.UUID(value)
    return value


_SIMPLE: dict[Any, Converter] = {
    bytes: _to_bytes,
    datetime.datetime: _to_datetime,
    uuid.UUID: _to_uuid,
}


def converter_for(annotation: Any) -> Converter | None:
    """The converter for a parameter annotation, or ``None`` when values pass through."""
    if annotation in _SIMPLE:
        return _SIMPLE[annotation]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(options) == 1:
            inner = converter_for(options[0])
            if inner is not None:
                return lambda value: None if value is None else inner(value)
        return None
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return _dataclass_converter(annotation)
    return None


def normalize_name(name: str) -> str:
    """Names match when equal after lower-casing and dropping underscores (``sendMessage`` is
    ``send_message``); used for hub methods and for dataclass fields sent by clients."""
    return name.replace("_", "").lower()


def _dataclass_converter(cls: type[Any]) -> Converter:
    """Build ``cls`` from an object; keys match fields as method names do (``userName`` sets
    ``user_name``) and unknown keys are ignored, as .NET ignores unknown JSON properties."""
    hints = typing.get_type_hints(cls)
    fields = {
        normalize_name(f.name): (f.name, converter_for(hints.get(f.name))) for f in dataclasses.fields(cls) if f.init
    }

    def convert(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        kwargs = {}
        for key, item in value.items():
            field = fields.get(normalize_name(str(key)))
            if field is not None:
                name, inner = field
                kwargs[name] = inner(item) if inner else item
        return cls(**kwargs)

    return convert
