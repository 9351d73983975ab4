from django_signalr import hub_path

from .hubs import EchoHub, SecretHub

urlpatterns = [
    hub_path("hubs/echo", EchoHub),
    hub_path("hubs/secret", SecretHub),
]
