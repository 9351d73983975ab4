from django_signalr import hub_path
from tests.hubs import EchoHub, SecretHub

from .hubs import (
    BigHub,
    ClientTimeoutDetailedHub,
    ClientTimeoutHub,
    DetailedHub,
    KeepAliveHub,
    KeepAliveSecretHub,
    PresenceHub,
    QuickDisposeHub,
    ShortPollHub,
    SmallDetailedHub,
    SmallHub,
)

urlpatterns = [
    hub_path("hubs/echo", EchoHub),
    hub_path("hubs/echo-ws", EchoHub, transports=["WebSockets"]),
    hub_path("hubs/secret", SecretHub),
    hub_path("hubs/detailed", DetailedHub),
    hub_path("hubs/small", SmallHub),
    hub_path("hubs/small-detailed", SmallDetailedHub),
    hub_path("hubs/keepalive", KeepAliveHub),
    hub_path("hubs/secret-keepalive", KeepAliveSecretHub),
    hub_path("hubs/presence", PresenceHub),
    hub_path("hubs/timeout", ClientTimeoutHub),
    hub_path("hubs/timeout-detailed", ClientTimeoutDetailedHub),
    hub_path("hubs/echo-http", EchoHub, transports=["ServerSentEvents", "LongPolling"]),
    hub_path("hubs/big", BigHub),
    hub_path("hubs/short-poll", ShortPollHub),
    hub_path("hubs/quick-dispose", QuickDisposeHub),
]

# -- streams, client results, stateful and automatic reconnect ---------------------------------
from .hubs import (  # noqa: E402
    DetailedOneAtATimeStreamsHub,
    DetailedStreamsHub,
    NumberedHub,
    OneAtATimeStreamsHub,
    StreamsHub,
    TinyBufferHub,
)

urlpatterns += [
    hub_path("hubs/stream", StreamsHub),
    hub_path("hubs/stream-detailed", DetailedStreamsHub),
    hub_path("hubs/one-at-a-time", OneAtATimeStreamsHub),
    hub_path("hubs/one-at-a-time-detailed", DetailedOneAtATimeStreamsHub),
    hub_path("hubs/tiny-buffer", TinyBufferHub),
    hub_path("hubs/numbered", NumberedHub),
]
