from django_signalr import hub_path

from .hubs import FaultHub

urlpatterns = [hub_path("hubs/fault", FaultHub)]
