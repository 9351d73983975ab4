"""The live connections' admin pages in Debian's chromium (Playwright), on one daphne: staff
users log in through the admin's form and act on connections of the official JS client.

Pages list what the registry holds, about a second behind the connections, so a page is
loaded again (bounded) until a new connection is listed. Every test first waits, through the
ORM, until the server's rows are exactly its own connections: earlier tests' rows go about a
second after their connections stopped, and the facet counts would include them.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from tests.servers import AsgiServer

from ..jsclient import JsConnection, JsDriver
from ..pairs import unique
from ..server import Users
from .bootstrap import AdminUsers
from .pages import (
    PROCESSES,
    TIMEOUT_MS,
    cell,
    connection_row,
    connections_url,
    login,
    open_listing,
    run_action,
    success_message,
)
from .registry import Registry
from .servers import pid

pytestmark = pytest.mark.asyncio(loop_scope="module")

HUB = "tests.hubs.EchoHub"
ROWS_TIMEOUT = 5.0  # rows of this test exactly: written within a second, earlier ones gone
CLOSE_TIMEOUT = 5.0
NO_RECONNECT = [0, 0]  # automatic reconnect on, retrying at once: any reconnect would show


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def operator(browser: Browser, admin_server: AsgiServer, admin_users: AdminUsers) -> AsyncIterator[Page]:
    """The operator (view + both action permissions), logged in once for the module."""
    page = await login(browser, admin_server.base_url, admin_users.operator)
    yield page
    await page.context.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def viewer(browser: Browser, admin_server: AsgiServer, admin_users: AdminUsers) -> AsyncIterator[Page]:
    """The viewer (view permissions only), logged in once for the module."""
    page = await login(browser, admin_server.base_url, admin_users.viewer)
    yield page
    await page.context.close()


async def connect(js: JsDriver, server: AsgiServer, **options: Any) -> tuple[JsConnection, str]:
    connection = await js.connect(unique("admin"), f"{server.base_url}/hubs/echo", **options)
    connection_id = await connection.connection_id()
    assert connection_id is not None
    return connection, connection_id


async def only_these(registry: Registry, connection_ids: list[str]) -> str:
    """Wait until the server's rows are exactly ``connection_ids``; the server's node id."""
    row = await registry.wait_connection(connection_ids[0], ROWS_TIMEOUT)
    await registry.wait_connection_ids(row.process_id, set(connection_ids), ROWS_TIMEOUT)
    return row.process_id


async def fence(connection: JsConnection) -> None:
    """The next ``Receive`` is one the connection asks for now: nothing else came before it."""
    marker = unique("fence")
    await connection.invoke("SendToCaller", marker)
    assert await connection.next("Receive") == [marker]


async def test_connections_are_listed_with_facets_filters_search_and_groups(
    js: JsDriver, admin_server: AsgiServer, registry: Registry, users: Users, operator: Page
) -> None:
    """The operator's changelist lists a live connection (reloaded until it does), counts each
    filter choice, filters by transport, finds a connection by its id, shows its groups on its
    page, and the server processes' list shows the process with its connection count."""
    alice, alice_id = await connect(
        js, admin_server, transport="WebSockets", protocol="json", accessToken=users["alice"].token
    )
    anonymous, anonymous_id = await connect(js, admin_server, transport="LongPolling", protocol="messagepack")
    await alice.invoke("Join", "lobby")
    await alice.invoke("Join", "vip")
    await anonymous.invoke("Join", "lobby")
    node_id = await only_these(registry, [alice_id, anonymous_id])
    await registry.wait_groups(alice_id, ["lobby", "vip"], ROWS_TIMEOUT)
    page = operator

    # Earlier modules' servers may have left rows of their own: look at this process's only.
    by_process = {"process__node_id__exact": node_id}
    await open_listing(page, connections_url(admin_server.base_url, **by_process), [alice_id, anonymous_id])
    await expect(page.locator("#result_list tbody tr")).to_have_count(2)
    filters = page.locator("#changelist-filter")
    for choice in (
        f"{HUB} (2)",
        "WebSockets (1)",
        "LongPolling (1)",
        "json (1)",
        "messagepack (1)",
        "alice (1)",
    ):
        await expect(filters.get_by_role("link", name=choice, exact=True)).to_have_count(1)

    await filters.get_by_role("link", name="LongPolling (1)", exact=True).click()
    await expect(page).to_have_url(re.compile(r"transport=LongPolling"))
    await expect(page.locator("#result_list tbody tr")).to_have_count(1)
    await expect(connection_row(page, anonymous_id)).to_have_count(1)

    await page.goto(connections_url(admin_server.base_url))
    await page.fill("#searchbar", alice_id)
    await page.press("#searchbar", "Enter")
    await expect(page.locator("#result_list tbody tr")).to_have_count(1)
    row = connection_row(page, alice_id)
    await expect(cell(row, "hub")).to_have_text(HUB)
    await expect(cell(row, "user_identifier")).to_have_text(users["alice"].pk)
    await expect(cell(row, "transport")).to_have_text("WebSockets")
    await expect(cell(row, "protocol")).to_have_text("json")
    await expect(cell(row, "process")).to_contain_text(f":{pid(admin_server)}")

    await row.get_by_role("link", name=alice_id, exact=True).click()
    await expect(page.locator("#content h1")).to_have_text("View connection")
    await expect(page.locator(".field-transport .readonly")).to_have_text("WebSockets")
    await expect(page.locator(".field-user_agent .readonly")).to_contain_text("Microsoft SignalR/")
    await expect(page.locator(".field-remote_address .readonly")).to_have_text("127.0.0.1")
    groups = page.locator(".field-group_list li")
    await expect(groups).to_have_count(2)
    assert sorted(await groups.all_inner_texts()) == ["lobby", "vip"]

    await page.goto(f"{admin_server.base_url}{PROCESSES}?q={node_id}")
    process_row = page.locator("#result_list tbody tr")
    await expect(process_row).to_have_count(1)
    await expect(cell(process_row, "pid")).to_have_text(str(pid(admin_server)))
    await expect(cell(process_row, "connection_count")).to_have_text("2")


async def test_send_a_message_action_calls_the_client_method(
    js: JsDriver, admin_server: AsgiServer, registry: Registry, operator: Page
) -> None:
    """ "Send a message" asks for a method and a JSON array (anything else is refused with a
    message, and nothing is sent), then the client gets exactly ``Receive("from admin", 7)``."""
    connection, connection_id = await connect(js, admin_server)
    await only_these(registry, [connection_id])
    page = operator
    await open_listing(page, connections_url(admin_server.base_url, q=connection_id), [connection_id])
    options = await page.locator('#changelist-form select[name="action"] option').evaluate_all(
        "options => options.map(option => option.value)"
    )
    assert options == ["", "disconnect", "send_message"]

    await run_action(page, connection_id, "send_message")
    await expect(page.locator("#content h1")).to_have_text("Send a message")
    await expect(page.locator("#content")).to_contain_text(connection_id)
    await page.fill("#id_method", "Receive")
    await page.fill("#id_arguments", '{"not": "an array"}')
    await page.click('input[name="apply"]')
    await expect(page.locator(".errorlist")).to_have_text("The arguments must be a JSON array.")

    await page.fill("#id_arguments", json.dumps(["from admin", 7]))
    await page.click('input[name="apply"]')
    await expect(success_message(page)).to_have_text("Sent Receive to the 1 selected connection(s).")
    assert await connection.next("Receive") == ["from admin", 7]
    await fence(connection)  # exactly one copy, and not the refused one


async def test_disconnect_action_closes_the_client_for_good(
    js: JsDriver, admin_server: AsgiServer, registry: Registry, operator: Page
) -> None:
    """ "Disconnect" closes the connection: the client's ``onclose`` fires without an error and,
    although automatic reconnect is on, it does not reconnect; its row goes from the list."""
    connection, connection_id = await connect(js, admin_server, reconnectDelays=NO_RECONNECT)
    await only_these(registry, [connection_id])
    page = operator
    await open_listing(page, connections_url(admin_server.base_url, q=connection_id), [connection_id])

    await run_action(page, connection_id, "disconnect")
    await expect(success_message(page)).to_have_text("Disconnected 1 connection(s).")
    assert await connection.closed(timeout=CLOSE_TIMEOUT) is None
    assert await connection.events() == [{"event": "close", "error": None}]
    assert await connection.state() == "Disconnected"

    await registry.wait_gone(connection_id, ROWS_TIMEOUT)
    await page.reload()
    await expect(connection_row(page, connection_id)).to_have_count(0)


async def test_disconnecting_a_connection_that_has_gone_says_so(
    js: JsDriver, admin_server: AsgiServer, registry: Registry, operator: Page
) -> None:
    """A listed connection that no process holds any more (its row outlived it) is reported as
    gone by "disconnect", and the live connection selected with it is disconnected."""
    connection, connection_id = await connect(js, admin_server)
    node_id = await only_these(registry, [connection_id])
    gone_id = unique("gone-connection")
    await registry.add_stale_connection(gone_id, node_id)
    try:
        page = operator
        await open_listing(
            page, connections_url(admin_server.base_url, process__node_id__exact=node_id), [connection_id, gone_id]
        )
        await page.check(f'#result_list input[name="_selected_action"][value="{gone_id}"]')
        await run_action(page, connection_id, "disconnect")
        await expect(success_message(page)).to_have_text("Disconnected 1 connection(s).")
        await expect(page.locator("ul.messagelist li.warning")).to_have_text("1 connection(s) had already gone.")
        assert await connection.closed(timeout=CLOSE_TIMEOUT) is None
    finally:
        await registry.delete_connection(gone_id)


async def test_staff_without_the_permissions_sees_connections_but_cannot_act(
    js: JsDriver, admin_server: AsgiServer, registry: Registry, viewer: Page
) -> None:
    """The viewer (view permissions only) sees the list and a connection's page, but no action
    (no action menu, no checkboxes); POSTing either action anyway neither closes the connection
    nor sends to it."""
    connection, connection_id = await connect(js, admin_server)
    await only_these(registry, [connection_id])
    page = viewer
    url = connections_url(admin_server.base_url, q=connection_id)
    await open_listing(page, url, [connection_id])
    await expect(page.locator('select[name="action"]')).to_have_count(0)
    await expect(page.locator('input[name="_selected_action"]')).to_have_count(0)

    await refused_post(page, url, {"action": "disconnect", "_selected_action": connection_id, "index": "0"})
    await refused_post(
        page,
        url,
        {
            "action": "send_message",
            "_selected_action": connection_id,
            "method": "Receive",
            "arguments": json.dumps(["must not arrive"]),
            "apply": "Send",
        },
    )
    assert await connection.state() == "Connected"
    assert await connection.invoke("Echo", "still here") == "still here"
    await fence(connection)
    assert await connection.drain("Receive") == []

    await connection_row(page, connection_id).get_by_role("link", name=connection_id, exact=True).click()
    await expect(page.locator("#content h1")).to_have_text("View connection")


async def refused_post(page: Page, url: str, form: dict[str, str]) -> None:
    """POST a changelist action with the page's session and a valid CSRF token: Django renders
    the list again (no action for this user), with no message of an action having run. (A 403
    would be CSRF's refusal, which would prove nothing about the permissions.)"""
    cookies = {cookie["name"]: cookie["value"] for cookie in await page.context.cookies()}
    response = await page.request.post(
        url,
        form={**form, "csrfmiddlewaretoken": cookies["csrftoken"]},
        headers={"Referer": url},
        max_redirects=0,
        timeout=TIMEOUT_MS,
    )
    body = await response.text()
    assert response.status == 200, (response.status, body[:500])
    assert form["_selected_action"] in body  # the list, as the viewer sees it
    assert 'class="messagelist"' not in body


async def test_group_count_is_not_multiplied_by_a_search(
    js: JsDriver, admin_server: AsgiServer, registry: Registry, operator: Page
) -> None:
    """BUG (fails today): searching the changelist (by anything, here the connection id) shows
    a connection in two groups with "groups" 4. ``search_fields`` has ``groups__name``, so the
    search joins the groups a second time and ``Count("groups")`` counts the product of the
    two joins. Unsearched, the same list shows 2."""
    connection, connection_id = await connect(js, admin_server)
    await connection.invoke("Join", "one")
    await connection.invoke("Join", "two")
    await only_these(registry, [connection_id])
    await registry.wait_groups(connection_id, ["one", "two"], ROWS_TIMEOUT)
    page = operator

    await open_listing(page, connections_url(admin_server.base_url), [connection_id])
    await expect(cell(connection_row(page, connection_id), "group_count")).to_have_text("2", timeout=2_000)
    await page.goto(connections_url(admin_server.base_url, q=connection_id))
    await expect(cell(connection_row(page, connection_id), "group_count")).to_have_text("2", timeout=2_000)


# -- two processes on one Redis layer ----------------------------------------------------------


async def test_admin_of_one_process_acts_on_a_connection_of_another(
    js: JsDriver, admin_cluster: list[AsgiServer], registry: Registry, admin_users: AdminUsers, browser: Browser
) -> None:
    """The admin served by process A (which holds no connection at all) lists a connection
    living on process B, sends it a message and disconnects it: the client gets exactly the
    message, then ``onclose`` without an error and no reconnect."""
    process_a, process_b = admin_cluster
    connection, connection_id = await connect(js, process_b, reconnectDelays=NO_RECONNECT)
    row = await registry.wait_connection(connection_id, ROWS_TIMEOUT)
    assert row.process.pid == pid(process_b)
    page = await login(browser, process_a.base_url, admin_users.operator)
    try:
        url = connections_url(process_a.base_url, q=connection_id)
        await open_listing(page, url, [connection_id])
        await expect(cell(connection_row(page, connection_id), "process")).to_contain_text(f":{pid(process_b)}")

        await run_action(page, connection_id, "send_message")
        await page.fill("#id_method", "Receive")
        await page.fill("#id_arguments", json.dumps(["from process A", {"to": "B"}]))
        await page.click('input[name="apply"]')
        await expect(success_message(page)).to_have_text("Sent Receive to the 1 selected connection(s).")
        assert await connection.next("Receive") == ["from process A", {"to": "B"}]
        await fence(connection)

        await open_listing(page, url, [connection_id])
        await run_action(page, connection_id, "disconnect")
        await expect(success_message(page)).to_have_text("Disconnected 1 connection(s).")
        assert await connection.closed(timeout=CLOSE_TIMEOUT) is None
        assert await connection.events() == [{"event": "close", "error": None}]
        await registry.wait_gone(connection_id, ROWS_TIMEOUT)
    finally:
        await page.context.close()
