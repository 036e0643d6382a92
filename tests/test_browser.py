"""The web chat in a real headless Chromium: type, see the reply and its buttons, click one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.clock import FixedClock
from assistant.settings import Settings
from knowledge.embeddings import Embedder
from main import create_app
from tests.conftest import NOW
from tests.servers import serve_in_thread

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test installs it)"
)


def test_type_a_message_see_reply_and_click_a_button(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    with serve_in_thread(create_app(settings, FixedClock(NOW), embedder)) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        try:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("#status.online", timeout=15_000)
            page.fill("#input", "any Coldplay shows in Europe?")
            page.press("#input", "Enter")
            reply = page.wait_for_selector(".bubble.bot", timeout=20_000)
            assert reply is not None
            assert "Coldplay" in reply.inner_text()
            button = page.wait_for_selector("#buttons button", timeout=5_000)
            assert button is not None
            label = button.inner_text()
            button.click()
            page.wait_for_function("document.querySelectorAll('.bubble.bot').length >= 2", timeout=20_000)
            bubbles = page.locator(".bubble").all_inner_texts()
            assert label in bubbles[-2]
            assert "Coldplay" in bubbles[-1]
            page.screenshot(path=str(tmp_path / "chat.png"))
            page.reload()
            page.wait_for_selector("#status.online", timeout=15_000)
            assert len(page.locator(".bubble").all_inner_texts()) == len(bubbles), "the page keeps the conversation"
        finally:
            browser.close()
