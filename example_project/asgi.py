"""ASGI entry point: ``daphne example_project.asgi:application`` (or ``manage.py runserver``).

One line serves every hub routed with ``hub_path()`` in urls.py plus normal Django HTTP.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

from django_signalr.asgi import get_asgi_application

application = get_asgi_application()
