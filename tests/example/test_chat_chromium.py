"""The example chat end to end: daphne serving example_project, the official @microsoft/signalr
client from npm, and Debian's chromium driven by Playwright (never a browser Playwright downloads).

Each test logs users in through the real login form, in separate browser contexts (separate
cookie jars, like separate browsers). ``python tests/tools/system_deps.py`` installs chromium.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.servers import ROOT, AsgiServer, environment, run_checked
from tests.tools.system_deps import CHROMIUM, INSTALL_HINT, chromium_installed, running_in_ci

EXAMPLE = ROOT / "example_project"
SIGNALR_JS = EXAMPLE / "node_modules" / "@microsoft" / "signalr" / "dist" / "browser" / "signalr.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000  # any single wait in a page
APPLICATION = "example_project.asgi:application"


def missing(reason: str) -> None:
    """Fail under CI (which must run these tests), else skip saying how to fix it."""
    if running_in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium; each test that needs it is skipped (failed under CI) without it."""
    if not chromium_installed():
        missing(f"{CHROMIUM} is missing: run `python tests/tools/system_deps.py` as root, or `{INSTALL_HINT}`")
    return CHROMIUM


def ensure_signalr_client(env: dict[str, str]) -> None:
    """``npm ci --prefix example_project`` once, when the client is not installed yet."""
    if SIGNALR_JS.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        missing("npm is missing: install Node.js 20+ to fetch @microsoft/signalr for the example")
    run_checked([npm, "ci", "--prefix", str(EXAMPLE), "--no-audit", "--no-fund"], env, timeout=300)


@pytest.fixture(scope="module")
def server(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example project under daphne with a fresh database; yields its base URL."""
    tmp = tmp_path_factory.mktemp("example")
    # pytest-django exported tests.settings: the subprocesses run the example's settings.
    env = environment("example_project.settings", EXAMPLE_DB_PATH=str(tmp / "db.sqlite3"), DJANGO_DEBUG="1")
    env.pop("REDIS_URL", None)  # one process: the in-memory layer
    ensure_signalr_client(env)
    run_checked([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env, timeout=120)
    run_checked([sys.executable, "manage.py", "seed_demo"], env, timeout=60)
    daphne = AsgiServer(APPLICATION, env, tmp / "daphne.log")
    daphne.start()
    try:
        yield daphne.base_url
    finally:
        daphne.stop()
        # Shown by pytest only when a test failed.
        print(f"--- daphne log ---\n{daphne.log_text()[-5000:]}")


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # executable_path: Playwright never downloads a browser of its own here.
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            await browser.close()


def hub_transport(url: str, method: str, resource_type: str) -> str | None:
    """The transport whose receiving end a browser request to the chat hub is, if it is one
    (not negotiate, nor the POSTs that send for both SSE and long polling)."""
    path, _, query = url.partition("?")
    if not path.endswith("/hubs/chat") or "id=" not in query or method != "GET":
        return None
    if path.startswith("ws"):
        return "WebSockets"
    return "ServerSentEvents" if resource_type == "eventsource" else "LongPolling"


async def enter_room(
    browser: Browser,
    base: str,
    username: str,
    room: str,
    *,
    transport: str | None = None,
    used: set[str] | None = None,
) -> Page:
    """A new browser context (its own cookies) logs in through the form and opens ``room``,
    with ``?transport=`` when ``transport`` is given. The transports of the page's requests to
    the hub are added to ``used``."""
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    page.on("pageerror", lambda error: print(f"[{username}] page error: {error}"))
    page.on("console", lambda message: print(f"[{username}] console {message.type}: {message.text}"))
    if used is not None:

        def note(transport: str | None) -> None:
            if transport is not None:
                used.add(transport)

        page.on("websocket", lambda socket: note(hub_transport(socket.url, "GET", "websocket")))
        page.on("request", lambda r: note(hub_transport(r.url, r.method, r.resource_type)))
    url = f"{base}/room/{room}/" + (f"?transport={transport}" if transport else "")
    await page.goto(url)  # login_required: redirected to the login form
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", username)  # the demo users' passwords
    await page.click("main form button[type=submit]")
    await expect(page).to_have_url(url, timeout=TIMEOUT_MS)
    await expect(page.locator("#status")).to_have_attribute("data-state", "connected", timeout=TIMEOUT_MS)
    return page


async def open_tab(page: Page, base: str, room: str) -> Page:
    """Another tab of ``page``'s browser context (the same user, logged in) showing ``room``."""
    tab = await page.context.new_page()
    await tab.goto(f"{base}/room/{room}/")
    await expect(tab.locator("#status")).to_have_attribute("data-state", "connected", timeout=TIMEOUT_MS)
    return tab


def member(page: Page, username: str):  # type: ignore[no-untyped-def]
    return page.locator(f'#members li[data-username="{username}"]')


async def members_are(page: Page, usernames: list[str]) -> None:
    """The page's member list becomes exactly ``usernames`` (each once, in this order)."""
    await expect(page.locator("#members li")).to_have_text(usernames, timeout=TIMEOUT_MS)


async def record_member_lists(page: Page) -> None:
    """From now on, ``window.memberLists`` gets each member list the page shows (one per
    MembersChanged: the page replaces the list's children each time)."""
    await page.evaluate(
        """() => {
            window.memberLists = [];
            const members = document.getElementById("members");
            new MutationObserver(() => {
                window.memberLists.push([...members.children].map((item) => item.dataset.username));
            }).observe(members, { childList: true });
        }"""
    )


async def lobby_people(page: Page, base: str, room: str, people: int) -> None:
    """Reload the lobby until it says ``people`` are in ``room`` (the room's name reaches the
    lobby through the connection registry, which is written about once a second)."""
    count = page.locator("ul.rooms li").filter(has=page.locator(f'a[href="/room/{room}/"]')).locator(".muted")
    for _ in range(40):
        await page.goto(f"{base}/")
        if await count.count() == 1 and await count.inner_text() == f"{people} here":
            return
        await page.wait_for_timeout(250)
    await expect(count).to_have_text(f"{people} here")


@pytest.mark.parametrize(
    ("transport", "expected"),
    [
        (None, "WebSockets"),  # negotiated: the server offers WebSockets first
        ("WebSockets", "WebSockets"),
        ("ServerSentEvents", "ServerSentEvents"),
        ("LongPolling", "LongPolling"),
    ],
    ids=["negotiated", "WebSockets", "ServerSentEvents", "LongPolling"],
)
async def test_message_typed_by_alice_appears_for_bob(
    server: str, browser: Browser, transport: str | None, expected: str
) -> None:
    """On each transport (``?transport=`` forces it on both pages): the page says which one
    it uses, and its requests to the hub are of that transport only."""
    room = f"general-{transport}" if transport else "general"
    used: set[str] = set()
    alice = await enter_room(browser, server, "alice", room, transport=transport, used=used)
    bob = await enter_room(browser, server, "bob", room, transport=transport, used=used)
    for page in (alice, bob):
        await expect(page.locator("#transport")).to_have_text(expected)
    text = f"<b>hello</b> bob {uuid.uuid4()}"  # markup must show as text, not become markup

    await alice.fill("#message-text", text)
    await alice.press("#message-text", "Enter")

    for page in (bob, alice):
        message = page.locator("#messages li.message").filter(has_text=text)
        await expect(message).to_have_count(1, timeout=TIMEOUT_MS)
        await expect(message.locator("strong")).to_have_text("alice")
        await expect(page.locator("#messages b")).to_have_count(0)
    await expect(alice.locator("#message-text")).to_have_value("")
    assert used == {expected}


async def test_members_list_shows_bob_until_his_page_closes(server: str, browser: Browser) -> None:
    alice = await enter_room(browser, server, "alice", "members")
    await members_are(alice, ["alice"])
    bob = await enter_room(browser, server, "bob", "members")

    await members_are(alice, ["alice", "bob"])
    await members_are(bob, ["alice", "bob"])

    await bob.close()
    await members_are(alice, ["alice"])


async def test_a_user_with_two_tabs_is_listed_once_until_both_close(server: str, browser: Browser) -> None:
    """Two users, bob in two tabs: bob is listed once everywhere, and stays listed while
    either of his tabs is open; carol closing her only tab disappears at once."""
    room = "tabs"
    alice = await enter_room(browser, server, "alice", room)
    bob1 = await enter_room(browser, server, "bob", room)
    bob2 = await open_tab(bob1, server, room)
    carol = await enter_room(browser, server, "carol", room)
    for page in (alice, bob1, bob2, carol):
        await members_are(page, ["alice", "bob", "carol"])

    await carol.close()
    for page in (alice, bob1, bob2):
        await members_are(page, ["alice", "bob"])

    # The list bob1's closing announces (from on_disconnected) still has bob: his other tab.
    await record_member_lists(alice)
    await bob1.close()
    await alice.wait_for_function("window.memberLists.length > 0", timeout=TIMEOUT_MS)
    assert await alice.evaluate("window.memberLists") == [["alice", "bob"]]
    for page in (alice, bob2):
        await members_are(page, ["alice", "bob"])

    await bob2.close()
    await members_are(alice, ["alice"])


async def test_lobby_counts_people_in_a_room_of_their_own(server: str, browser: Browser) -> None:
    room = f"lobby-{uuid.uuid4().hex[:8]}"
    alice = await enter_room(browser, server, "alice", room)
    bob1 = await enter_room(browser, server, "bob", room)
    await open_tab(bob1, server, room)
    lobby = await alice.context.new_page()
    await lobby_people(lobby, server, room, 2)  # two people, three tabs
    await alice.close()
    await lobby_people(lobby, server, room, 1)


async def test_private_message_reaches_bob_only(server: str, browser: Browser) -> None:
    alice = await enter_room(browser, server, "alice", "private")
    bob = await enter_room(browser, server, "bob", "private")
    carol = await enter_room(browser, server, "carol", "private")
    secret = f"for bob only {uuid.uuid4()}"

    await member(alice, "bob").get_by_role("button").click()  # fills in the recipient
    await expect(alice.locator("#private-to")).to_have_value("bob")
    await alice.fill("#private-text", secret)
    await alice.click("#private-form button[type=submit]")

    for page in (bob, alice):  # the recipient, and the sender's echo
        message = page.locator("#messages li.private").filter(has_text=secret)
        await expect(message).to_have_count(1, timeout=TIMEOUT_MS)
        await expect(message.locator("strong")).to_have_text("alice → bob (private)")

    # Anything sent after the private message that carol does receive proves she had the chance.
    after = f"after the secret {uuid.uuid4()}"
    await alice.fill("#message-text", after)
    await alice.press("#message-text", "Enter")
    await expect(carol.locator("#messages li").filter(has_text=after)).to_have_count(1, timeout=TIMEOUT_MS)
    await expect(carol.locator("#messages li.private")).to_have_count(0)
    await expect(carol.locator("#messages")).not_to_contain_text(secret)
