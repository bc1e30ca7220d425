"""The map pages as their tests see them: as HTML from a logged-in client, and in Debian's
chromium driven by Playwright, logged in as one role and recording what a test must not see,
with screenshots to tests/artifacts/ (git-ignored) for a person to look at. Its fixtures are
registered by tests/conftest.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import user_with_role

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
# An address on another host: a page and its scripts must name none.
URL_RE = re.compile(r"https?://[^\s\"'<>)]+")


# --- the page as HTML --------------------------------------------------------------------------


def logged_in_client(role: str | None, username: str | None = None) -> Client:
    """A test client logged in as a new user with that role (None: no role at all)."""
    client = Client()
    client.force_login(user_with_role(role, username or f"{role}-page"))
    return client


def assert_login_comes_first(path: str) -> None:
    """An anonymous visitor of the page is sent to the login page, and back after it."""
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(settings.LOGIN_URL)
    assert f"next={path}" in response["Location"]


def assert_offline(html: str, vendored: tuple[str, ...]) -> None:
    """The page names no other host and loads these assets from static/vendor/."""
    assert URL_RE.findall(html) == []
    for asset in vendored:
        assert f"/static/vendor/{asset}" in html


def embedded_json(html: str, element_id: str) -> Any:
    """What the page holds as JSON in its <script id=…>: the page script's configuration or
    strings."""
    block = re.search(rf'<script[^>]*\bid="{element_id}"[^>]*>(.*?)</script>', html, re.S)
    return json.loads(block.group(1))


# --- the page in a browser ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless; the tests that ask for it are skipped without it."""
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="playwright is not installed (pip install -r requirements.txt)",
    )
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium (/usr/bin/chromium) is not installed")
    with pytest.MonkeyPatch.context() as patch, sync_api.sync_playwright() as playwright:
        # Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from
        # a thread with a running loop unless told that this is deliberate.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class MapPage:
    """A map page in the browser, logged in as one role, recording what a test must not see:
    requests to another host and script errors.

    A subclass names its page: `name` is the page's in #<name>-config, body[data-<name>-ready]
    and the screenshots' file names.
    """

    name: str
    viewport: dict[str, int]
    context_options: dict[str, Any] = {}

    def __init__(self, browser, live_server, role: str):
        self.base = live_server.url
        client = logged_in_client(role, f"{role}-browser")
        self.context = browser.new_context(
            viewport=self.viewport, locale="zh-CN", **self.context_options
        )
        self.context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": self.base,
                }
            ]
        )
        self.page = self.context.new_page()
        self.foreign_requests: list[str] = []
        self.errors: list[str] = []
        own = urlsplit(self.base).netloc
        self.page.on(
            "request",
            lambda r: (
                None
                if urlsplit(r.url).netloc == own or r.url.startswith("data:")
                else self.foreign_requests.append(r.url)
            ),
        )
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, path: str, view: tuple[float, float] | None = None) -> None:
        """Open the page and wait until its script is ready and the data are in; `view`: centre
        the map there (lon, lat) at zoom 17 first."""
        self.page.goto(self.base + path)
        self.page.wait_for_selector(f"body[data-{self.name}-ready]")
        if view:
            self.page.evaluate(
                """([id, lon, lat]) => {
                    const cfg = JSON.parse(document.getElementById(id).textContent);
                    window[cfg.map].setView([lat, lon], 17, { animate: false });
                }""",
                [f"{self.name}-config", *view],
            )
        self.page.wait_for_load_state("networkidle")

    def pixel(self, lon: float, lat: float) -> tuple[float, float]:
        """Where a WGS84 point is on the screen (to click there with the mouse)."""
        x, y = self.page.evaluate(
            """([id, lon, lat]) => {
                const cfg = JSON.parse(document.getElementById(id).textContent);
                const map = window[cfg.map];
                const p = map.latLngToContainerPoint([lat, lon]);
                const r = map.getContainer().getBoundingClientRect();
                return [r.left + p.x, r.top + p.y];
            }""",
            [f"{self.name}-config", lon, lat],
        )
        return x, y

    def after(self, marker: str, action) -> None:
        """Do `action`, then wait until the page has bumped body[data-<marker>] (its "done"
        signal) and the network is quiet."""
        js = f"document.body.dataset.{marker} || ''"
        before = self.page.evaluate(f"() => {js}")
        action()
        self.page.wait_for_function(f"before => ({js}) !== before", arg=before)
        self.page.wait_for_load_state("networkidle")

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{self.name}-{name}.png"))

    def assert_clean(self, refused: int | None = None) -> None:
        """Nothing from another host, no script error; the browser's own console line for an
        answer the test provoked on purpose (`refused`, e.g. 409) is expected."""
        assert self.foreign_requests == []
        expected = f"status of {refused} " if refused else None
        assert [e for e in self.errors if not (expected and expected in e)] == []

    def close(self) -> None:
        self.context.close()


def map_page_fixture(page_class: type[MapPage]) -> Any:
    """A fixture for a test module, `session_as = map_page_fixture(PlanPage)`: make(role) → a
    new page of `page_class` logged in as a new user with that role; all closed after the test."""

    @pytest.fixture
    def pages_as(browser, live_server, transactional_db):
        pages: list[MapPage] = []

        def make(role: str) -> MapPage:
            pages.append(page_class(browser, live_server, role))
            return pages[-1]

        yield make
        for page in pages:
            page.close()

    return pages_as
