"""URL layout of the django_signalr target: the hub at ``/hubs/bench``."""

from bench.django_target.hubs import BenchHub
from django_signalr import hub_path

urlpatterns = [hub_path("hubs/bench", BenchHub)]
