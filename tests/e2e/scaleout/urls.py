from django_signalr import hub_path
from tests.e2e.hubs import NumberedHub

from .hubs import ScaleHub

urlpatterns = [hub_path("hubs/scale", ScaleHub), hub_path("hubs/numbered", NumberedHub)]
