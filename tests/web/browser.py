"""What every browser test shares: screenshots that also read each Chinese page for leaks, signing in and out.

A browser test takes a :class:`Shots` for its folder and calls it on every page a person sees; a page in Chinese
(any URL without ``lang=en``) that shows a raw enumerated value, a catalogue key, an English validation message or
English prose fails the test there, with the page's screenshot written first (issue 12: "a test fails if any page
in Chinese shows an enum's raw value or an English error").
"""
from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import BACKENDS
from tests.web.chinese import leaks
from tests.web.conftest import PASSWORD

#: One backend is enough for a browser: the pathways run on both in tests/flows, and the web layer is walked on
#: both by test_access and test_api_schema. A browser costs the two cores more than anything else in the suite.
BROWSER_BACKEND = "sqlite" if "sqlite" in BACKENDS else BACKENDS[0]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


class Shots:
    """Numbered full-page screenshots in one folder; each Chinese page is checked for leaks after its shot."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def __call__(self, page, name: str, *, full_page: bool = True) -> None:
        self.count += 1
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=full_page)
        if "lang=en" not in page.url:
            found = leaks(page.content())
            assert found == [], f"{name} ({page.url}) shows untranslated text: {found}"


def sign_in(context, base: str, username: str, *, timeout_ms: int = 120_000):
    """A new page of ``context`` signed in as ``username`` (the test password)."""
    page = context.new_page()
    page.set_default_timeout(timeout_ms)  # an answer waits for the flow run to suspend; two cores, busy
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.url
    return page


def sign_out(page) -> None:
    page.click("header form[action='/logout'] button")
    page.wait_for_url("**/login")


def reload_until(page, url: str, selector: str, timeout: float = 180) -> None:
    """Load ``url`` again and again until ``selector`` is on the page (the flow moves on its own)."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        if page.locator(selector).count():
            return
        assert time.monotonic() < deadline, f"{selector!r} never appeared on {url}"
        time.sleep(1)
