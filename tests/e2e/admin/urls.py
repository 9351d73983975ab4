"""``admin/``, the admin's static files (served by the app itself: no DEBUG, no web server in
front), and every hub route of the e2e suite."""

from django.contrib import admin
from django.contrib.staticfiles.views import serve
from django.urls import path, re_path

from tests.e2e.urls import urlpatterns as hub_urlpatterns

urlpatterns = [
    path("admin/", admin.site.urls),
    re_path(r"^static/(?P<path>.*)$", serve, {"insecure": True}),
    *hub_urlpatterns,
]
