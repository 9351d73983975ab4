"""The live connection registry: which processes serve, and which connections they hold.

Written by each process in the background (``registry.py``) and read by the Django admin and
by operators. It is not on any message path and not what cluster-wide queries read: those ask
the live processes themselves (``presence.py``), so they are exact at once; the registry only
tells them which processes are alive.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ServerProcess(models.Model):
    """A server process (one node); its rows go when its heartbeat stops."""

    node_id = models.CharField(max_length=32, primary_key=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    server = models.CharField(max_length=64, help_text="The program serving (daphne, uvicorn...).")
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "server process"
        verbose_name_plural = "server processes"
        ordering = ["hostname", "pid"]

    def __str__(self) -> str:
        return f"{self.server} {self.hostname}:{self.pid}"


class Connection(models.Model):
    """A live SignalR connection."""

    connection_id = models.CharField(max_length=64, primary_key=True)
    process = models.ForeignKey(ServerProcess, on_delete=models.CASCADE, related_name="connections")
    hub = models.CharField(max_length=255, db_index=True, help_text="The hub class's dotted path.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user_identifier = models.CharField(max_length=255, blank=True, db_index=True)
    transport = models.CharField(max_length=32)
    protocol = models.CharField(max_length=32)
    remote_address = models.CharField(max_length=64, blank=True)
    user_agent = models.TextField(blank=True)
    connected_at = models.DateTimeField()
    last_activity_at = models.DateTimeField()

    class Meta:
        ordering = ["-connected_at"]
        # The admin's actions on live connections; rows themselves are never edited by hand.
        permissions = [
            ("disconnect_connection", "Can disconnect live connections"),
            ("send_to_connection", "Can send messages to live connections"),
        ]

    def __str__(self) -> str:
        return self.connection_id


class ConnectionGroup(models.Model):
    """A connection's membership of a hub group."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=255)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "name"], name="signalr_unique_membership")]
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return self.name
