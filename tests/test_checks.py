"""System checks report misconfiguration with stable ids."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from django_signalr.checks import check_settings


def ids(**settings: Any) -> list[str]:
    with override_settings(**settings):
        return [message.id for message in check_settings()]  # type: ignore[misc]


def test_the_test_settings_are_clean() -> None:
    assert ids() == []


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"CHANNEL_LAYERS": {}}, "signalr.E001"),
        ({"SIGNALR": {"CHANNEL_LAYER": "other"}}, "signalr.E001"),
        ({"SIGNALR": {"TRANSPORTS": ["WebSocket"]}}, "signalr.E002"),
        ({"SIGNALR": {"TRANSPORTS": "WebSockets"}}, "signalr.E002"),
        ({"SIGNALR": {"PROTOCOLS": ["json", "xml"]}}, "signalr.E003"),
        ({"SIGNALR": {"TOKEN_AUTHENTICATOR": "no.such.module"}}, "signalr.E004"),
        ({"SIGNALR": {"KEEP_ALIVE_INTERVAL": 0}}, "signalr.E005"),
        ({"SIGNALR": {"MAXIMUM_PARALLEL_INVOCATIONS_PER_CLIENT": 0}}, "signalr.E005"),
        ({"SIGNALR": {"MAXIMUM_RECEIVE_MESSAGE_SIZE": -1}}, "signalr.E005"),
        ({"SIGNALR": {"KEEPALIVE": 5}}, "signalr.W001"),
        ({"SIGNALR": {"HUB_FILTERS": ["no.such.Filter"]}}, "signalr.E006"),
        ({"SIGNALR": {"HUB_FILTERS": ["django_signalr.hub.Hub"]}}, "signalr.E006"),
    ],
)
def test_misconfiguration(settings: dict[str, Any], expected: str) -> None:
    assert ids(**settings) == [expected]


def test_per_hub_overrides_are_checked() -> None:
    from tests.hubs import EchoHub

    EchoHub.transports = ["Carrier pigeon"]  # type: ignore[attr-defined]
    try:
        assert ids() == ["signalr.E002"]
    finally:
        del EchoHub.transports  # type: ignore[attr-defined]
