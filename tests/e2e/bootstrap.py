"""Prepare the e2e database before the server starts; prints the users' credentials as JSON.

Run as ``python -m tests.e2e.bootstrap`` with ``DJANGO_SETTINGS_MODULE=tests.e2e.settings``:
migrates, creates alice, bob and staff (who has ``auth.view_user``), and prints, per user,
the pk, a session cookie value and a bearer token from ``create_access_token``.
"""

from __future__ import annotations

import json

import django


def main() -> None:
    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import Permission, User
    from django.core.management import call_command
    from django.test import Client

    from django_signalr.auth import create_access_token

    call_command("migrate", verbosity=0, interactive=False)
    credentials = {}
    for username in ("alice", "bob", "staff"):
        user = User.objects.create_user(username, password=f"{username}-password")
        if username == "staff":
            user.user_permissions.add(Permission.objects.get(codename="view_user", content_type__app_label="auth"))
        client = Client()
        client.force_login(user)
        credentials[username] = {
            "pk": str(user.pk),
            "session": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "token": create_access_token(user),
        }
    print(json.dumps({"session_cookie_name": settings.SESSION_COOKIE_NAME, "users": credentials}))


if __name__ == "__main__":
    main()
