"""Installing the admin next to django_signalr, as API.md's settings do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.servers import ROOT

from .servers import admin_environment

CHECK_TIMEOUT = 60


def test_django_starts_with_the_admin_installed(tmp_path: Path) -> None:
    """``manage.py check`` on the admin tests' settings (API.md's ``INSTALLED_APPS``, with
    ``django.contrib.admin``) succeeds: the admin's autodiscovery imports
    ``django_signalr/admin.py`` without error. (Regression: that module subscripted
    ``admin.TabularInline[...]`` and ``admin.ModelAdmin[...]`` at runtime, which Django's
    classes do not support, so no process with the admin installed could start:
    ``TypeError: type 'TabularInline' is not subscriptable``.)"""
    result = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=ROOT,
        env=admin_environment(tmp_path),
        timeout=CHECK_TIMEOUT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "System check identified no issues" in result.stdout
