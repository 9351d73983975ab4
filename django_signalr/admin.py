"""Live connections in the Django admin: who is connected where, and two actions on them.

The pages read the connection registry (``models.py``), which each server process writes about
once a second, so a connection shows up a second or so after its handshake. The actions do
not touch rows: "disconnect" closes each connection wherever it is (the client gets a Close
without reconnect, as from ``context.abort()``) and "send a message" calls a client method on
it; the rows follow when the registry next writes. They need the ``disconnect_connection`` and
``send_to_connection`` permissions (superusers have them).
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.module_loading import import_string

from .context import get_hub_context
from .models import Connection, ServerProcess
from .registry import DEAD_AFTER

# django-stubs makes the admin classes generic; at run time they are not subscriptable.
if TYPE_CHECKING:
    _ConnectionAdmin = admin.ModelAdmin[Connection]
    _ServerProcessAdmin = admin.ModelAdmin[ServerProcess]
else:
    _ConnectionAdmin = _ServerProcessAdmin = admin.ModelAdmin


class _ReadOnly:
    """Rows are written by the server processes only."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SendMessageForm(forms.Form):
    method = forms.CharField(max_length=255, help_text="The client method to call, e.g. ReceiveMessage.")
    arguments = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        initial="[]",
        help_text='A JSON array of arguments, e.g. ["system", "hello"].',
    )

    def clean_arguments(self) -> list[Any]:
        try:
            arguments = json.loads(self.cleaned_data["arguments"])
        except ValueError as error:
            raise forms.ValidationError(f"Not valid JSON: {error}") from error
        if not isinstance(arguments, list):
            raise forms.ValidationError("The arguments must be a JSON array.")
        return arguments


def _by_hub(connections: list[Connection]) -> dict[str, list[str]]:
    hubs: dict[str, list[str]] = defaultdict(list)
    for connection in connections:
        hubs[connection.hub].append(connection.connection_id)
    return hubs


def _seconds(moment: datetime.datetime) -> str:
    return formats.date_format(timezone.localtime(moment), "Y-m-d H:i:s")


@admin.register(Connection)
class ConnectionAdmin(_ReadOnly, _ConnectionAdmin):
    list_display = [
        "connection_id",
        "hub",
        "user_identifier",
        "transport",
        "protocol",
        "process",
        "connected",
        "last_activity",
        "group_count",
    ]
    list_filter = ["hub", "transport", "protocol", "process", ("user", admin.RelatedOnlyFieldListFilter)]
    # Counts beside every filter choice: connections per hub, transport, protocol and server.
    show_facets = admin.ShowFacets.ALWAYS
    search_fields = ["connection_id", "user_identifier", "remote_address", "user_agent", "groups__name"]
    fields = [
        "connection_id",
        "hub",
        "user",
        "user_identifier",
        "transport",
        "protocol",
        "process",
        "remote_address",
        "user_agent",
        "connected",
        "last_activity",
        "group_list",
    ]
    readonly_fields = ["connected", "last_activity", "group_list"]
    actions = ["disconnect", "send_message"]
    list_select_related = ["process"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Connection]:
        # distinct: a search on group names joins the groups, which would multiply the count
        return super().get_queryset(request).annotate(group_total=Count("groups", distinct=True))

    @admin.display(description="groups", ordering="group_total")
    def group_count(self, connection: Connection) -> int:
        return getattr(connection, "group_total", 0)

    @admin.display(description="groups")
    def group_list(self, connection: Connection) -> str:
        names = sorted(connection.groups.values_list("name", flat=True))
        if not names:
            return "-"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((name,) for name in names)))

    @admin.display(description="connected at", ordering="connected_at")
    def connected(self, connection: Connection) -> str:
        return _seconds(connection.connected_at)

    @admin.display(description="last activity", ordering="last_activity_at")
    def last_activity(self, connection: Connection) -> str:
        """Written every 10 s at most: the time of the registry write that saw the activity."""
        return _seconds(connection.last_activity_at)

    def has_disconnect_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_signalr.disconnect_connection")

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_signalr.send_to_connection")

    @admin.action(description="Disconnect the selected connections", permissions=["disconnect"])
    def disconnect(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        selected = list(queryset)
        found = async_to_sync(_disconnect_all)(selected)
        for connection, was_found in zip(selected, found, strict=True):
            if was_found:
                self.log_change(request, connection, "Disconnected from the admin.")
        if any(found):
            self.message_user(request, f"Disconnected {sum(found)} connection(s).", messages.SUCCESS)
        if not all(found):
            gone = len(found) - sum(found)
            self.message_user(request, f"{gone} connection(s) had already gone.", messages.WARNING)

    @admin.action(description="Send a message to the selected connections", permissions=["send"])
    def send_message(self, request: HttpRequest, queryset: QuerySet[Connection]) -> HttpResponse | None:
        form = SendMessageForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            method, arguments = form.cleaned_data["method"], form.cleaned_data["arguments"]
            selected = list(queryset)
            for hub, ids in _by_hub(selected).items():
                clients = get_hub_context(import_string(hub)).clients
                async_to_sync(clients.clients(ids).send)(method, *arguments)
            for connection in selected:
                self.log_change(request, connection, f"Sent {method} from the admin.")
            self.message_user(
                request, f"Sent {method} to the {len(selected)} selected connection(s).", messages.SUCCESS
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Send a message",
            "form": form,
            "connections": queryset,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/django_signalr/connection/send_message.html", context)


async def _disconnect_all(connections: list[Connection]) -> list[bool]:
    """Close every connection at once: one that has gone costs a timeout, paid once."""
    return list(
        await asyncio.gather(
            *(get_hub_context(import_string(c.hub)).connections.disconnect(c.connection_id) for c in connections)
        )
    )


@admin.register(ServerProcess)
class ServerProcessAdmin(_ReadOnly, _ServerProcessAdmin):
    list_display = ["node_id", "server", "hostname", "pid", "started_at", "heartbeat_at", "alive", "connection_count"]
    search_fields = ["node_id", "hostname"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ServerProcess]:
        return super().get_queryset(request).annotate(connection_total=Count("connections"))

    @admin.display(description="alive", boolean=True)
    def alive(self, process: ServerProcess) -> bool:
        """A heartbeat within ``DEAD_AFTER``; the rows of a dead process go soon after."""
        return process.heartbeat_at >= timezone.now() - datetime.timedelta(seconds=DEAD_AFTER)

    @admin.display(description="connections", ordering="connection_total")
    def connection_count(self, process: ServerProcess) -> int:
        return getattr(process, "connection_total", 0)
