from __future__ import annotations

from django.apps import AppConfig


class DjangoSignalRConfig(AppConfig):
    name = "django_signalr"
    verbose_name = "SignalR"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks
