from django_signalr.testing import HubCommunicator
from tests.hubs import EchoHub


async def test_echo_round_trip() -> None:
    communicator = HubCommunicator(EchoHub)
    await communicator.connect()
    assert await communicator.invoke("Echo", "hi") == "hi"
    await communicator.disconnect()
