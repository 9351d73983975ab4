"""The example project: a chat with rooms, served by django_signalr (see README.md)."""
