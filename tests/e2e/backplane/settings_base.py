"""What every backplane layer's settings share: this package's hub, and SQLite writes that wait.

Three processes write the connection registry into one SQLite file. A deferred transaction
that reads and then writes (``update_or_create``) fails at once with "database is locked"
when another process wrote in between -- SQLite's busy timeout does not cover that upgrade --
and a process whose registration failed is missing from cluster-wide queries until the
writer's retry. ``BEGIN IMMEDIATE`` takes the write lock first, so the timeout applies.
"""

from typing import Any

from tests.e2e.settings import *  # noqa: F403
from tests.e2e.settings import DATABASES

ROOT_URLCONF = "tests.e2e.backplane.urls"
ASGI_APPLICATION = "tests.e2e.backplane.asgi.application"
_SQLITE: dict[str, Any] = dict(DATABASES["default"])
_SQLITE["OPTIONS"] = {**_SQLITE["OPTIONS"], "transaction_mode": "IMMEDIATE"}
DATABASES = {**DATABASES, "default": _SQLITE}
