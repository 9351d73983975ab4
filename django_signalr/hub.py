"""What users subclass and decorate: ``Hub``, ``HubCallerContext`` and ``hub_method``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

    from .clients import GroupManager, HubCallerClients
    from .presence import HubConnections

F = TypeVar("F", bound=Callable[..., Any])


class HubCallerContext:
    """What a hub knows about the connection that called it; one per connection.

    ``scope`` is the ASGI scope of the request that opened the transport (the WebSocket
    upgrade, the SSE GET or the first long poll), so headers, cookies and the query string of
    that request are available for the connection's whole life.
    """

    __slots__ = (
        "_abort",
        "connection_id",
        "items",
        "protocol",
        "scope",
        "transport",
        "user",
        "user_identifier",
    )

    def __init__(
        self,
        *,
        connection_id: str,
        user: AbstractBaseUser | AnonymousUser,
        user_identifier: str | None,
        transport: str,
        protocol: str,
        scope: dict[str, Any],
        abort: Callable[[], None],
    ) -> None:
        self.connection_id = connection_id
        self.user = user
        self.user_identifier = user_identifier
        self.transport = transport
        self.protocol = protocol
        self.scope = scope
        self.items: dict[Any, Any] = {}
        self._abort = abort

    def abort(self) -> None:
        """Close this connection from the server; the client gets a Close without reconnect."""
        self._abort()

    def __repr__(self) -> str:
        return f"<HubCallerContext {self.connection_id} {self.transport}/{self.protocol}>"


class Hub:
    """Subclass this; public methods become callable by clients.

    A new instance serves each invocation (and each ``on_connected``/``on_disconnected``), as
    in ASP.NET Core, so keep per-connection state in ``self.context.items``, not on ``self``.
    Any option of ``settings.SIGNALR`` can be overridden for one hub with a lower-case class
    attribute, e.g. ``keep_alive_interval = 5``.
    """

    login_required: ClassVar[bool] = False
    permission_required: ClassVar[Sequence[str]] = ()

    context: HubCallerContext
    clients: HubCallerClients
    groups: GroupManager
    connections: HubConnections

    async def on_connected(self) -> None:
        """Called once the handshake is done, before any invocation of this connection."""

    async def on_disconnected(self, exception: Exception | None) -> None:
        """Called once when the connection ends.

        ``exception`` is ``None`` for a clean close (the client stopped, the server aborted,
        the socket closed normally). Otherwise it says why: a ``ConnectionResetError`` for a
        connection dropped without a close frame (ASP.NET Core passes ``null`` there; knowing
        is more useful), the client's error text as ``HubException``, a timeout, a protocol
        error or an oversized message.
        """


# Never invocable, whatever the subclass does with them.
RESERVED_NAMES = frozenset(("on_connected", "on_disconnected", "clients", "groups", "context", "connections"))


@dataclass(frozen=True, slots=True)
class HubMethodOptions:
    """What ``@hub_method`` recorded on a function."""

    name: str | None = None
    login_required: bool = False
    permission_required: Sequence[str] = ()


HUB_METHOD_ATTRIBUTE = "__signalr_hub_method__"


@overload
def hub_method(func: F, /) -> F: ...


@overload
def hub_method(
    *,
    name: str | None = None,
    login_required: bool = False,
    permission_required: Sequence[str] | str = (),
) -> Callable[[F], F]: ...


def hub_method(
    func: F | None = None,
    /,
    *,
    name: str | None = None,
    login_required: bool = False,
    permission_required: Sequence[str] | str = (),
) -> F | Callable[[F], F]:
    """Give a hub method an explicit wire name and/or an authorization requirement.

    ``permission_required`` implies ``login_required``. An unauthorized caller gets
    ``Failed to invoke 'X' because user is unauthorized``.
    """
    permissions = (permission_required,) if isinstance(permission_required, str) else tuple(permission_required)
    options = HubMethodOptions(name, login_required or bool(permissions), permissions)

    def decorate(function: F) -> F:
        setattr(function, HUB_METHOD_ATTRIBUTE, options)
        return function

    return decorate(func) if func is not None else decorate
