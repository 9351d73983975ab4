"""Backplane spec, layer 1: ``InMemoryChannelLayer`` -- one server process holds every connection."""

from .settings_base import *  # noqa: F403

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
