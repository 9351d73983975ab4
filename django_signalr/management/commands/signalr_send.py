"""``manage.py signalr_send``: call a client method on a hub's connections from a shell or a cron job.

    python manage.py signalr_send chat.hubs.ChatHub ReceiveMessage system "hello"
    python manage.py signalr_send chat.hubs.ChatHub ReceiveMessage system hi --group lobby
    python manage.py signalr_send chat.hubs.ChatHub GetMessage --connection <id> --invoke

Each argument is a JSON value when it parses as one (``42``, ``true``, ``{"a": 1}``,
``'"42"'`` for the string 42) and a string otherwise. It goes through ``get_hub_context``, so
it reaches the connections of every server process that shares the channel layer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

from ...clients import ClientProxy, HubClients
from ...conf import resolve_options
from ...context import get_hub_context
from ...exceptions import HubException
from ...hub import Hub

# Options whose values are connection ids, group names or user ids: any of them may start with
# "-" (connection ids are URL-safe base64), which argparse would take for an option.
VALUE_OPTIONS = frozenset({"--group", "--user", "--connection", "--except"})


def attach_option_values(argv: Sequence[str]) -> list[str]:
    """``--group -lobby`` as ``--group=-lobby``: argparse refuses a separate value that starts
    with "-" ("expected one argument"), so each value is attached to its option."""
    attached: list[str] = []
    values = iter(argv)
    for token in values:
        if token in VALUE_OPTIONS:
            value = next(values, None)
            attached.append(token if value is None else f"{token}={value}")
        else:
            attached.append(token)
    return attached


def _argument(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class Command(BaseCommand):
    help = "Call a client method on the connections of a hub, on every server process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("hub", help="The hub class's dotted path, e.g. chat.hubs.ChatHub.")
        parser.add_argument("method", help="The client method to call, e.g. ReceiveMessage.")
        parser.add_argument("arguments", nargs="*", type=_argument, help="Its arguments (JSON, else strings).")
        targets = parser.add_mutually_exclusive_group()
        targets.add_argument("--group", action="append", help="Send to this group (repeat for several).")
        targets.add_argument("--user", action="append", help="Send to this user's connections (repeatable).")
        targets.add_argument("--connection", action="append", help="Send to this connection id (repeatable).")
        parser.add_argument(
            "--except", dest="excluded", action="append", default=[], help="Skip this connection id (repeatable)."
        )
        parser.add_argument(
            "--invoke",
            action="store_true",
            help="Wait for the client's result (one --connection only) and print it as JSON.",
        )
        parser.add_argument("--timeout", type=float, default=30.0, help="Seconds to wait with --invoke.")

    def run_from_argv(self, argv: list[str]) -> None:
        """From the command line; ``call_command`` callers pass ``group=["-lobby"]`` instead."""
        super().run_from_argv(attach_option_values(argv))

    def handle(self, *args: Any, **options: Any) -> None:
        hub_class = self._hub_class(options["hub"])
        layer = get_channel_layer(resolve_options(hub_class).channel_layer)
        if isinstance(layer, InMemoryChannelLayer):
            raise CommandError(
                "The channel layer is in-memory: this process cannot reach the server's connections. "
                "Configure a shared layer (channels_redis, channels_postgres) to send from a command."
            )
        clients = get_hub_context(hub_class).clients
        method, arguments = options["method"], options["arguments"]
        if options["invoke"]:
            connections = options["connection"] or []
            if len(connections) != 1 or options["excluded"]:
                raise CommandError("--invoke needs exactly one --connection (and no --except).")
            invoke = clients.client(connections[0]).invoke
            try:
                result = async_to_sync(invoke)(method, *arguments, timeout=options["timeout"])
            except (HubException, ConnectionError, TimeoutError) as error:
                raise CommandError(str(error)) from error
            self.stdout.write(json.dumps(result, default=str))
            return
        async_to_sync(self._proxy(clients, options).send)(method, *arguments)

    @staticmethod
    def _hub_class(path: str) -> type[Hub]:
        try:
            hub_class = import_string(path)
        except ImportError as error:
            raise CommandError(f"Cannot import the hub {path!r}: {error}") from error
        if not (isinstance(hub_class, type) and issubclass(hub_class, Hub)):
            raise CommandError(f"{path!r} is not a Hub subclass.")
        return hub_class

    @staticmethod
    def _proxy(clients: HubClients, options: dict[str, Any]) -> ClientProxy:
        excluded = options["excluded"]
        if options["connection"]:
            ids = [cid for cid in options["connection"] if cid not in excluded]
            return clients.clients(ids)
        if options["user"]:
            if excluded:
                raise CommandError("--except applies to --group or to all connections, not to --user.")
            return clients.users(options["user"])
        if options["group"]:
            if excluded and len(options["group"]) > 1:
                raise CommandError("--except applies to one --group at a time.")
            if excluded:
                return clients.group_except(options["group"][0], excluded)
            return clients.groups(options["group"])
        return clients.all_except(excluded) if excluded else clients.all
