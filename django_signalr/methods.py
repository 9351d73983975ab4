"""A hub's method table, built once per hub class when the hub is routed.

Two methods of one wire name, or parameters a client cannot fill by position, fail at startup,
not at call time. Each method records what the dispatcher needs on every call: how to convert
arguments, which parameters are client-to-server streams, and whether it streams results.
"""

from __future__ import annotations

import collections.abc
import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .binding import Converter, converter_for, normalize_name
from .hub import HUB_METHOD_ATTRIBUTE, RESERVED_NAMES, Hub, HubMethodOptions

# Return annotations that make a coroutine method a streaming one, and parameter annotations
# that receive a client-to-server stream (typing's aliases have the same origins).
_STREAM_RESULTS = (
    collections.abc.AsyncIterator,
    collections.abc.AsyncIterable,
    collections.abc.AsyncGenerator,
)
_STREAM_PARAMETERS = (collections.abc.AsyncIterator, collections.abc.AsyncIterable)


@dataclass(frozen=True, slots=True)
class HubMethodDescriptor:
    """One invocable method, inspected once."""

    name: str
    function: Callable[..., Any]
    is_coroutine: bool
    is_async_generator: bool
    is_streaming: bool  # results are streamed to the client
    converters: tuple[Converter | None, ...]  # of the parameters the client sends in arguments
    converts: bool  # any converter at all (else arguments pass through as they came)
    required_arguments: int
    stream_positions: tuple[int, ...]  # where client-to-server streams go among all parameters
    stream_converters: tuple[Converter | None, ...]  # of each stream's items
    login_required: bool
    permission_required: Sequence[str]

    def bind(self, arguments: Sequence[Any]) -> Sequence[Any]:
        """Check the count and convert annotated arguments; ``ValueError`` when they do not fit."""
        count = len(arguments)
        if not self.required_arguments <= count <= len(self.converters):
            raise ValueError(f"Invocation provides {count} argument(s) but target expects {len(self.converters)}.")
        if not self.converts:
            return arguments  # the list the codec made for this message: nothing else holds it
        return [
            convert(value) if convert is not None else value
            for convert, value in zip(self.converters, arguments, strict=False)
        ]

    def with_streams(self, arguments: Sequence[Any], streams: Sequence[Any]) -> list[Any]:
        """The bound arguments with the stream readers inserted at their parameters' places."""
        merged = list(arguments)
        for position, stream in zip(self.stream_positions, streams, strict=True):
            merged.insert(position, stream)
        return merged


def _origin(annotation: Any) -> Any:
    return typing.get_origin(annotation) or annotation


def _describe(name: str, function: Callable[..., Any], options: HubMethodOptions | None) -> HubMethodDescriptor:
    parameters = list(inspect.signature(function).parameters.values())[1:]  # drop self
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.KEYWORD_ONLY) for p in parameters):
        raise ImproperlyConfigured(
            f"Hub method {function.__qualname__} must take positional parameters only: "
            "clients send arguments by position."
        )
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # unresolvable forward references: no conversion, values pass through
        hints = {}
    converters: list[Converter | None] = []
    stream_positions: list[int] = []
    stream_converters: list[Converter | None] = []
    required = 0
    for position, parameter in enumerate(parameters):
        annotation = hints.get(parameter.name)
        if _origin(annotation) in _STREAM_PARAMETERS:
            item_types = typing.get_args(annotation)
            stream_positions.append(position)
            stream_converters.append(converter_for(item_types[0]) if item_types else None)
            continue
        converters.append(converter_for(annotation))
        required += parameter.default is parameter.empty
    is_async_generator = inspect.isasyncgenfunction(function)
    is_coroutine = inspect.iscoroutinefunction(function)
    options = options or HubMethodOptions()
    return HubMethodDescriptor(
        name=name,
        function=function,
        is_coroutine=is_coroutine,
        is_async_generator=is_async_generator,
        is_streaming=is_async_generator or (is_coroutine and _origin(hints.get("return")) in _STREAM_RESULTS),
        converters=tuple(converters),
        converts=any(convert is not None for convert in converters),
        required_arguments=required,
        stream_positions=tuple(stream_positions),
        stream_converters=tuple(stream_converters),
        login_required=options.login_required,
        permission_required=options.permission_required,
    )


def build_method_table(hub_class: type[Hub]) -> dict[str, HubMethodDescriptor]:
    """Map each normalized wire name to its method; raise on ambiguous names."""
    attributes: dict[str, Callable[..., Any]] = {}
    for klass in reversed(hub_class.__mro__):
        if klass in (Hub, object):
            continue
        for attribute, value in vars(klass).items():
            if attribute.startswith("_") or attribute in RESERVED_NAMES:
                continue
            if inspect.isfunction(value):
                attributes[attribute] = value
            else:
                attributes.pop(attribute, None)  # a subclass replaced the method
    table: dict[str, HubMethodDescriptor] = {}
    for attribute, function in attributes.items():
        options: HubMethodOptions | None = getattr(function, HUB_METHOD_ATTRIBUTE, None)
        wire_name = options.name if options and options.name else attribute
        key = normalize_name(wire_name)
        if key in table:
            raise ImproperlyConfigured(
                f"{hub_class.__qualname__}: methods '{table[key].name}' and '{attribute}' both "
                f"answer to the hub method name '{wire_name}'. Rename one or give it "
                "@hub_method(name=...)."
            )
        table[key] = _describe(attribute, function, options)
    return table
