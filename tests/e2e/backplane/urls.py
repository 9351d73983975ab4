from django_signalr import hub_path

from .hubs import SPEC_HUBS

urlpatterns = [hub_path(f"hubs/{key}", hub) for key, hub in SPEC_HUBS.items()]
