from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from .rooms import DEFAULT_ROOMS, DEMO_USERS, is_room_name, lobby_rooms


class LoginView(auth_views.LoginView):
    """Django's login view; in DEBUG the page lists the demo users of ``manage.py seed_demo``."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["demo_users"] = DEMO_USERS if settings.DEBUG else ()
        return context


@login_required
def lobby(request):
    """The rooms: the default ones and every room someone is in, with how many people."""
    wanted = request.GET.get("room", "").strip()
    error = ""
    if wanted:
        if is_room_name(wanted):
            return redirect("room", name=wanted)
        error = "A room name is 1 to 50 letters, digits, '-' or '_'."
    # A sync view (the ORM and templates as usual); the connection queries are async.
    people = async_to_sync(lobby_rooms)()
    rooms = [{"name": name, "people": n} for name, n in people.items() if n or name in DEFAULT_ROOMS]
    return render(request, "chat/lobby.html", {"rooms": rooms, "error": error, "wanted": wanted})


@login_required
def room(request, name):
    return render(request, "chat/room.html", {"room": name})
