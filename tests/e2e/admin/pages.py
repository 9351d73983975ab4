"""The admin pages of the registry as a user drives them in chromium (Playwright's async API)."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode

from playwright.async_api import Browser, Locator, Page, expect

from .bootstrap import AdminUser

TIMEOUT_MS = 15_000  # any single wait in a page
CONNECTIONS = "/admin/django_signalr/connection/"
PROCESSES = "/admin/django_signalr/serverprocess/"
LIST_TIMEOUT = 5.0  # a connection is listed about a second after its handshake
RELOAD_INTERVAL = 0.2


async def login(browser: Browser, base_url: str, user: AdminUser) -> Page:
    """A new browser context (its own cookies) logged in through the admin's login form."""
    context = await browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await page.goto(f"{base_url}/admin/login/?next=/admin/")
    await page.fill("#id_username", user.username)
    await page.fill("#id_password", user.password)
    await page.click("#login-form input[type=submit]")
    await expect(page).to_have_url(f"{base_url}/admin/", timeout=TIMEOUT_MS)
    return page


def connections_url(base_url: str, **query: str) -> str:
    return f"{base_url}{CONNECTIONS}" + (f"?{urlencode(query)}" if query else "")


def connection_row(page: Page, connection_id: str) -> Locator:
    """The changelist row of a connection (its id is the row's link)."""
    return page.locator("#result_list tbody tr").filter(has=page.get_by_role("link", name=connection_id, exact=True))


def cell(row: Locator, field: str) -> Locator:
    """A column of a changelist row, by its ``list_display`` name."""
    return row.locator(f".field-{field}")


async def open_listing(page: Page, url: str, connection_ids: list[str], timeout: float = LIST_TIMEOUT) -> None:
    """Load ``url`` again until every one of ``connection_ids`` is listed."""
    deadline = time.monotonic() + timeout
    while True:
        await page.goto(url)
        counts = [await connection_row(page, cid).count() for cid in connection_ids]
        if all(count == 1 for count in counts):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{connection_ids} not listed at {url} within {timeout} s (counts {counts})")
        await asyncio.sleep(RELOAD_INTERVAL)


async def run_action(page: Page, connection_id: str, action: str) -> None:
    """Tick the connection's row, choose ``action`` and press Go."""
    await page.check(f'#result_list input[name="_selected_action"][value="{connection_id}"]')
    await page.select_option('#changelist-form select[name="action"]', action)
    await page.click('#changelist-form button[name="index"]')


def success_message(page: Page) -> Locator:
    return page.locator("ul.messagelist li.success")
