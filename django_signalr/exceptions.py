"""Exceptions users raise or catch."""

from __future__ import annotations


class HubException(Exception):  # noqa: N818 - the ASP.NET Core name users know
    """An error whose message is meant for the client.

    Raised in a hub method, its text always reaches the caller (``... HubException: text``),
    detailed errors or not. Raised to server code when a client answers a client-result
    invocation with an error, or ends an upload stream with one.
    """


class ConnectionNotFoundError(ConnectionError):
    """A client result was asked of a connection that does not exist (.NET's IOException)."""

    def __init__(self, connection_id: str) -> None:
        super().__init__(f"Connection '{connection_id}' does not exist.")
        self.connection_id = connection_id


class ConnectionDisconnectedError(ConnectionError):
    """The connection went away while a client result was awaited (.NET's IOException)."""

    def __init__(self, connection_id: str) -> None:
        super().__init__(f"Connection '{connection_id}' disconnected.")
        self.connection_id = connection_id
