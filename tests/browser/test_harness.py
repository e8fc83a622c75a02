"""The browser harness itself: what it must catch, it catches (a console error, a page error, a serious
accessibility violation), on a page of its own, without the system."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from tests.browser.conftest import Console, Steps


async def test_console_errors_and_uncaught_exceptions_are_recorded(browser: Browser, tmp_path):
    console = Console()
    page = await browser.new_page()
    try:
        page.on("console", console.on_console)
        page.on("pageerror", console.on_page_error)
        await page.set_content(
            "<html lang='en'><body><script>console.error('boom one'); console.log('fine');"
            "setTimeout(() => { throw new Error('boom two') });</script></body></html>"
        )
        await page.wait_for_timeout(50)  # the timer's exception
        assert [e.split(" (")[0] for e in console.errors] == ["console.error boom one", "page error Error: boom two"]
        console.allow(r"boom (one|two)")
        assert console.unexpected() == []
    finally:
        await page.close()


async def test_a_serious_accessibility_violation_fails_the_step(browser: Browser, tmp_path):
    page = await browser.new_page()
    try:
        steps = Steps(page, tmp_path)
        await page.set_content(
            "<html lang='en'><head><title>t</title></head><body><main><h1>ok</h1></main></body></html>"
        )
        await steps("clean")
        await page.set_content(
            "<html lang='en'><head><title>t</title></head><body><main>"
            "<form><input type='text' name='token'></form></main></body></html>"
        )
        with pytest.raises(AssertionError, match="label"):
            await steps("unlabelled")
        assert sorted(p.name for p in tmp_path.glob("*.png")) == ["01-clean.png", "02-unlabelled.png"]
        assert "label" in (tmp_path / "axe.txt").read_text()
    finally:
        await page.close()
