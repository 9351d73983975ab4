from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import path

from django_signalr import hub_path

from .chat import views
from .chat.hubs import ChatHub

urlpatterns = [
    path("", views.lobby, name="lobby"),
    path("room/<slug:name>/", views.room, name="room"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    hub_path("hubs/chat", ChatHub),
]

# DEBUG only (as `runserver` does): lets `daphne example_project.asgi:application` serve
# static files too, the SignalR client included. In production use collectstatic + a web server.
urlpatterns += staticfiles_urlpatterns()
