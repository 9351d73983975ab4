"""The hub of the fault tests: the tests' echo hub, the process id (so a test knows which
server process holds each connection) and the cluster-wide queries of ``self.connections``."""

from __future__ import annotations

import os

from tests.hubs import EchoHub


class FaultHub(EchoHub):
    async def pid(self) -> int:
        """The id of the server process holding the caller's connection."""
        return os.getpid()

    async def query(self, question: str, name: str | None = None) -> object:
        """A cluster-wide query (presence.py) by method name: ``all``, ``count``, ``in_group``."""
        connections = self.connections
        if question == "all":
            return await connections.all()
        if question == "count":
            return await connections.count(name)
        if question == "in_group":
            return await connections.in_group(name or "")
        raise ValueError(question)
