"""Cluster-wide queries (``hub.connections``) across three server processes on one Redis layer,
asked from each process, with the official client's connections spread over all three."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from .jsclient import JsConnection, JsDriver
from .pairs import unique
from .server import Users

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def connect(js: JsDriver, url: str, users: Users | None = None, user: str | None = None) -> JsConnection:
    options: dict[str, Any] = {}
    if user is not None and users is not None:
        options["accessToken"] = users[user].token
    return await js.connect(unique("presence"), url, **options)


async def test_group_members_counts_and_users_are_the_same_from_every_process(
    js: JsDriver, cluster: list[str], users: Users
) -> None:
    group = unique("room")
    members = [await connect(js, url, users, "alice") for url in cluster]
    members.append(await connect(js, cluster[1], users, "bob"))
    outsiders = [await connect(js, url) for url in cluster]
    ids = sorted([await m.connection_id() for m in members])  # type: ignore[type-var]
    for member in members:
        await member.invoke("AddToGroup", await member.connection_id(), group)
    for asker in outsiders:
        assert await asker.invoke("Query", "in_group", group) == ids
        assert await asker.invoke("Query", "count", group) == len(ids)
        assert await asker.invoke("Query", "users", group) == sorted([users["alice"].pk, users["bob"].pk])
        assert await asker.invoke("Query", "is_user_connected", users["bob"].pk) is True
        bob_ids = await asker.invoke("Query", "of_user", users["bob"].pk)
        assert bob_ids == [await members[-1].connection_id()]
        assert (await asker.invoke("Query", "groups"))[group] == len(ids)
    everyone = await outsiders[0].invoke("Query", "all")
    assert set(ids) | {await o.connection_id() for o in outsiders} <= set(everyone)
    bob = members.pop()
    await bob.stop()  # resolves once the server closed the connection
    remaining = sorted([await m.connection_id() for m in members])  # type: ignore[type-var]
    # The client's stop() may resolve a moment before the server has run its disconnect.
    for _ in range(50):
        if await outsiders[0].invoke("Query", "is_user_connected", users["bob"].pk) is False:
            break
        await asyncio.sleep(0.1)
    for asker in outsiders:
        assert await asker.invoke("Query", "is_user_connected", users["bob"].pk) is False
        assert await asker.invoke("Query", "in_group", group) == remaining
        assert (await asker.invoke("Query", "groups"))[group] == len(remaining)
