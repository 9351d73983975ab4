"""The django_signalr target: a minimal Django project exposing ``BenchHub`` at ``/hubs/bench``."""
