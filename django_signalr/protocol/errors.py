"""Errors the protocol core raises.

The class names are the .NET ones on purpose: with detailed errors enabled, the server appends
``"<ClassName>: <message>"`` to close and completion errors exactly as ASP.NET Core does, so a
client (or a test written for ASP.NET Core) sees the same text.
"""

from __future__ import annotations


class InvalidDataException(ValueError):  # noqa: N818 - the .NET name is part of the wire text
    """Bytes that are not a valid handshake or hub message, or a message over the size limit."""
