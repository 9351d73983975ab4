"""The shipped migrations match the models (a model change without its migration fails here)."""

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_missing_migrations() -> None:
    out = StringIO()
    try:
        call_command("makemigrations", "django_signalr", check=True, dry_run=True, stdout=out)
    except SystemExit:
        pytest.fail(f"django_signalr's models changed without a migration:\n{out.getvalue()}")
    assert "No changes detected" in out.getvalue()
