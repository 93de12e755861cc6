"""The chat demo in headless Chromium: two pages join a room, one sends, the other shows it.

Chromium offers permessage-deflate and the chat accepts it, so this is also a real-browser
compression test. Uses Debian's ``chromium`` (``apt-get install chromium``) via Playwright.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

import websock
from examples.chat.app import app as chat_app

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 15_000

if not os.path.exists(CHROMIUM):
    pytest.skip(
        f"Debian's chromium is not installed at {CHROMIUM} (apt-get install -y chromium)",
        allow_module_level=True,
    )
async_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")


@pytest.mark.slow
async def test_two_browser_pages_chat_in_one_room() -> None:
    upgrades: list[websock.Upgrade] = []

    async def app(request: websock.Request) -> Any:
        result = await chat_app(request)
        if isinstance(result, websock.Upgrade):
            upgrades.append(result)
        return result

    expect = async_api.expect
    async with websock.serve(app, port=0) as server, async_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            pages = []
            for name in ("ann", "bob"):
                page = await browser.new_page()
                await page.goto(f"{server.http_url}/?room=garden&name={name}", timeout=WAIT_MS)
                await page.click("#join")
                await expect(page.locator("#status")).to_contain_text(f"as {name}", timeout=WAIT_MS)
                pages.append(page)
            ann, bob = pages
            await expect(ann.locator("#messages")).to_contain_text("bob joined", timeout=WAIT_MS)

            await ann.fill("#text", "hello from ann <b>not bold</b>")
            await ann.click("#send")
            await expect(bob.locator("#messages li").last).to_have_text(
                "annhello from ann <b>not bold</b>", timeout=WAIT_MS
            )
            await bob.fill("#text", "hi ann")
            await bob.press("#text", "Enter")
            await expect(ann.locator("#messages")).to_contain_text("hi ann", timeout=WAIT_MS)

            await bob.close()
            await expect(ann.locator("#messages")).to_contain_text("bob left", timeout=WAIT_MS)
        finally:
            await browser.close()
    # Both pages negotiated permessage-deflate with the server (RFC 7692).
    assert len(upgrades) == 2
    assert all(up.deflate is not None for up in upgrades)
