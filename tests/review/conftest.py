"""Fixtures for the review-queue browser tests: a real uvicorn server and MLLP listener on free
ports over a SQLite file, and one headless Debian chromium per module driven by Playwright."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from empi import users
from empi.runtime import Runtime
from tests.conftest import REPO, nist_settings, require, truncate_all

CHROMIUM = os.environ.get("EMPI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
# pinned, so retuning the production card never moves the seeded pairs (67.5 points) out of review
SCORECARD = REPO / "tests" / "data" / "scorecards" / "review-v1.json"
PASSWORD = "synthetic-pass-1"
_numbers = itertools.count(100)


def next_n() -> int:
    """A fresh pair number per test, so tests in a module never see each other's people."""
    return next(_numbers)


@dataclass
class Live:
    rt: Runtime
    base_url: str
    mllp_port: int
    fhir_token: str  # a PIXm client with the ITI-83 scope

    def url(self, path: str) -> str:
        return self.base_url + path


def _uvicorn(rt: Runtime) -> tuple[Any, threading.Thread, int]:
    import uvicorn

    from api.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(
        uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.02)
    assert server.started, "uvicorn did not start"
    return server, thread, port


@pytest.fixture
def rt(make_runtime: Callable[..., Runtime]) -> Runtime:
    """The review tests' runtime: the parametrised database with the pinned scorecard."""
    return make_runtime(scorecard=str(SCORECARD))


@contextmanager
def serving(database_url: str) -> Iterator[Live]:
    """uvicorn (the whole app) and the MLLP listener on free ports over ``database_url``."""
    from api.fhir.auth import create_client
    from api.mllp.server import serve_in_thread

    settings = replace(nist_settings(), database_url=database_url, scorecard=str(SCORECARD))
    rt = Runtime.start(settings, auto_migrate=False)
    with rt.write() as session:
        for name, role in (("alice", "steward"), ("bob", "steward"), ("vic", "viewer")):
            users.add_user(session, name, PASSWORD, role=role)
        token = create_client(session, "review-tests", ["ITI-83"])
    server, thread, port = _uvicorn(rt)
    mllp = serve_in_thread(rt, "127.0.0.1", 0)
    try:
        yield Live(rt=rt, base_url=f"http://127.0.0.1:{port}", mllp_port=mllp.port, fhir_token=token)
    finally:
        mllp.stop()
        server.should_exit = True
        thread.join(10)
        rt.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Live]:
    db = tmp_path_factory.mktemp("review-live") / "empi.db"
    shutil.copy(sqlite_template, db)
    with serving(f"sqlite:///{db}") as running:
        yield running


@pytest.fixture(scope="module")
def live_pg(request: pytest.FixtureRequest) -> Iterator[Live]:
    """The same, on the test session's PostgreSQL database (emptied first)."""
    url = str(request.getfixturevalue("postgres_url"))
    truncate_all(url)
    with serving(url) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require("EMPI_REQUIRE_BROWSER", "playwright is not installed")
    if not Path(CHROMIUM).exists():
        require("EMPI_REQUIRE_BROWSER", f"chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def contexts(browser: Any) -> Iterator[list[Any]]:
    """Browser contexts made by a test (each one is a separate cookie jar), closed afterwards."""
    made: list[Any] = []
    yield made
    for ctx in made:
        ctx.close()


def sign_in(
    browser: Any,
    contexts: list[Any],
    live: Live,
    username: str = "alice",
    *,
    viewport: dict[str, int] | None = None,
) -> Any:
    ctx = browser.new_context(viewport=viewport or {"width": 1280, "height": 800}, base_url=live.base_url)
    contexts.append(ctx)
    page = ctx.new_page()
    page.goto("/review")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/review")
    return page


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
