"""The dashboard in a real browser: Debian's chromium driven by Playwright (the Python package only).

- `browser` (session): chromium at `DD_TEST_CHROMIUM` (default /usr/bin/chromium, installed by the
  Makefile's `system-packages`), launched with `executable_path`, headless unless
  `DD_TEST_BROWSER_HEADED=1` (then `DD_TEST_BROWSER_SLOWMO_MS` slows every action). Playwright never
  downloads a browser here.
- `page` (per test): a fresh context on the ingest service of the running system (`system`, the five
  services and the simulator as processes, tests/system.py), in en-US and New York time on purpose: the
  page must still be Chinese by default and its clock KST. Every console error and uncaught page error
  is recorded and fails the test, except those the test declares with `console.allow(pattern)`.
- `step` (per test): `await step("signed-in")` saves a full-page screenshot as
  `.local/test/artifacts/browser/<test>/<nn>-<step>.png` and runs axe-core (vendored,
  tests/browser/vendor/) on the page: a `serious` or `critical` violation fails the test, the others are
  printed and kept in `<test>/axe.txt` (`axe=False` for a step that repeats a page state already checked).
  A failing test also leaves `<test>/failed.png`.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Error, Page, async_playwright

from tests.browser.desk import Desk
from tests.infra import REPO
from tests.system import RunningSystem

CHROMIUM = Path(os.environ.get("DD_TEST_CHROMIUM", "/usr/bin/chromium"))
HEADED = os.environ.get("DD_TEST_BROWSER_HEADED", "") not in ("", "0")
SLOW_MO_MS = float(os.environ.get("DD_TEST_BROWSER_SLOWMO_MS", "0"))
ARTIFACTS = REPO / ".local" / "test" / "artifacts" / "browser"
AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
BLOCKING_IMPACTS = ("critical", "serious")
TIMEOUT_MS = 10_000

PAGES_OPENED: list[str] = []  # the tests that opened a page (each one's folder under ARTIFACTS)

CONSOLE_KEY = pytest.StashKey["Console"]()
CALL_REPORT_KEY = pytest.StashKey[pytest.TestReport]()


@dataclass
class Console:
    """What the page wrote to the console as an error, and the uncaught exceptions it threw."""

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """An error this test expects (a regular expression searched in the message)."""
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location
            self.errors.append(f"console.error {message.text} ({where.get('url')}:{where.get('lineNumber')})")

    def on_page_error(self, error: Error) -> None:
        self.errors.append(f"page error {error.name}: {error.message}")


def artifact_dir(item: pytest.Item) -> Path:
    return ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    # After the test body: a console error it did not declare fails it (FAILED, not an error in teardown).
    result = yield
    console = item.stash.get(CONSOLE_KEY, None)
    if console is not None and (errors := console.unexpected()):
        raise AssertionError("the page logged errors:\n  " + "\n  ".join(errors))
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[CALL_REPORT_KEY] = report
    return report


def pytest_report_header(config: pytest.Config) -> str:  # shown when tests/browser is named on the command line
    return f"browser tests: {CHROMIUM}{' (headed)' if HEADED else ''}; screenshots in {ARTIFACTS}"


def pytest_terminal_summary(terminalreporter: Any) -> None:  # and after any run that opened a page
    if PAGES_OPENED:
        terminalreporter.write_line(f"browser tests: screenshots of each step in {ARTIFACTS}/<test>/")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no chromium at {CHROMIUM}: `make system-packages` installs Debian's (sudo apt-get install -y chromium),"
            " or set DD_TEST_CHROMIUM to another binary"
        )
    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=str(CHROMIUM), headless=not HEADED, slow_mo=SLOW_MO_MS)
        yield launched
        await launched.close()


@pytest.fixture(scope="session")
async def desk(system: RunningSystem) -> AsyncIterator[Desk]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield Desk(system, client)


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
async def page(
    request: pytest.FixtureRequest, browser: Browser, system: RunningSystem, console: Console
) -> AsyncIterator[Page]:
    folder = artifact_dir(request.node)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    context = await browser.new_context(
        base_url=system.url("ingest"),
        locale="en-US",
        timezone_id="America/New_York",
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(TIMEOUT_MS)
    opened = await context.new_page()
    opened.on("console", console.on_console)
    opened.on("pageerror", console.on_page_error)
    request.node.stash[CONSOLE_KEY] = console
    PAGES_OPENED.append(folder.name)
    try:
        yield opened
    finally:
        report = request.node.stash.get(CALL_REPORT_KEY, None)
        if report is not None and report.failed:
            try:
                await opened.screenshot(path=folder / "failed.png", full_page=True)
            except Error:
                pass  # the page is gone: the steps before are there
        await context.close()


class Steps:
    """A numbered screenshot per step, and axe-core's pass over the page as it is then."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.count = 0
        self.started = time.monotonic()

    async def __call__(self, name: str, *, axe: bool = True) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{re.sub(r'[^A-Za-z0-9_-]+', '-', name)}.png"
        at = time.monotonic()
        await self.page.screenshot(path=path, full_page=True)
        shot = time.monotonic()
        if axe:
            await self.accessible(name)
        print(
            f"step {path.name} at +{at - self.started:.1f} s (screenshot {shot - at:.2f} s,"
            f" axe {time.monotonic() - shot:.2f} s): {self.page.url}"
        )
        return path

    async def accessible(self, name: str) -> None:
        if not await self.page.evaluate("() => typeof window.axe === 'object'"):
            # Through the driver, not a <script> tag: the page's Content-Security-Policy stays as it is.
            await self.page.evaluate(AXE_SOURCE)
        results: dict[str, Any] = await self.page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        assert results["passes"], "axe-core checked nothing"  # it ran, on a page with something to check
        violations = results["violations"]
        lines = [describe(v) for v in violations]
        if lines:
            note(self.folder / "axe.txt", f"# {self.count:02d} {name} {self.page.url}\n" + "\n".join(lines) + "\n")
            print(f"axe, step {name} ({self.page.url}):\n  " + "\n  ".join(lines))
        blocking = [describe(v) for v in violations if v.get("impact") in BLOCKING_IMPACTS]
        assert not blocking, f"accessibility ({name}, {self.page.url}):\n  " + "\n  ".join(blocking)


def note(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as notes:
        notes.write(text)


def describe(violation: dict[str, Any]) -> str:
    targets = [" ".join(map(str, node["target"])) for node in violation["nodes"][:5]]
    return f"{violation.get('impact')}: {violation['id']}: {violation['help']} at {targets}"


@pytest.fixture
def step(request: pytest.FixtureRequest, page: Page) -> Steps:
    return Steps(page, artifact_dir(request.node))
