"""Prepare the e2e database for the admin, after ``tests.e2e.bootstrap`` and before any server.

``prepare(db_dir)`` runs this module as ``python -m tests.e2e.admin.bootstrap`` with the admin's
settings: it migrates the apps the e2e bootstrap does not have (the admin's log) and creates
two staff users who are not superusers, with the password ``<username>-password``: the
operator may view the registry's three models and has both action permissions; the viewer may
only view them. It prints their pks as JSON.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from .servers import admin_environment, run_checked

OPERATOR = "admin-operator"
VIEWER = "admin-viewer"
VIEW_PERMISSIONS = ["view_connection", "view_connectiongroup", "view_serverprocess"]
ACTION_PERMISSIONS = ["disconnect_connection", "send_to_connection"]


@dataclass(frozen=True)
class AdminUser:
    username: str
    password: str
    pk: int


@dataclass(frozen=True)
class AdminUsers:
    operator: AdminUser  # view + disconnect_connection + send_to_connection
    viewer: AdminUser  # view only


def password(username: str) -> str:
    return f"{username}-password"


def prepare(db_dir: Path, timeout: float = 120.0) -> AdminUsers:
    """Migrate and create the users in a subprocess; the users."""
    output = run_checked([sys.executable, "-m", "tests.e2e.admin.bootstrap"], admin_environment(db_dir), timeout)
    pks = json.loads(output)
    return AdminUsers(
        operator=AdminUser(OPERATOR, password(OPERATOR), pks["operator"]),
        viewer=AdminUser(VIEWER, password(VIEWER), pks["viewer"]),
    )


def main() -> None:
    import django

    django.setup()
    from django.contrib.auth.models import Permission, User
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    pks = {}
    for role, username, codenames in (
        ("operator", OPERATOR, VIEW_PERMISSIONS + ACTION_PERMISSIONS),
        ("viewer", VIEWER, VIEW_PERMISSIONS),
    ):
        user, _ = User.objects.get_or_create(username=username)
        user.is_staff = True
        user.is_superuser = False
        user.set_password(password(username))
        user.save()
        permissions = Permission.objects.filter(content_type__app_label="django_signalr", codename__in=codenames)
        assert permissions.count() == len(codenames), list(permissions)
        user.user_permissions.set(permissions)
        pks[role] = user.pk
    print(json.dumps(pks))


if __name__ == "__main__":
    main()
