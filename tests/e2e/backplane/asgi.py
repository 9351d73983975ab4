"""The ASGI application of the backplane clusters; ``DJANGO_SETTINGS_MODULE`` names the layer's settings."""

from django_signalr.asgi import get_asgi_application

application = get_asgi_application()
