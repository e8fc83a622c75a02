"""What the browser tests do on the dashboard's pages (services/ingest/dashboard, its page contract)."""

from __future__ import annotations

import re
import time
from datetime import datetime

from playwright.async_api import Locator, Page, expect

from tests.browser.desk import KST

CJK = re.compile(r"[\u4e00-\u9fff]")
HANGUL = re.compile(r"[\uac00-\ud7a3]")


async def sign_in(page: Page, token: str) -> None:
    """The sign-in form, filled and sent as a person would; ends on the case list."""
    await page.goto("/dashboard/sign-in")
    form = page.locator("form[data-testid=sign-in-form]")
    await form.locator("input[name=token]").fill(token)
    await form.locator("button[type=submit]").click()
    await expect(page).to_have_url(re.compile(r"/dashboard/?$"))


def rows(page: Page) -> Locator:
    return page.locator("[data-testid=case-row]")


async def listed_ids(page: Page) -> list[str]:
    return [await row.get_attribute("data-dispute-id") or "" for row in await rows(page).all()]


async def open_case(page: Page, dispute_id: str) -> None:
    await page.goto(f"/dashboard/cases/{dispute_id}")
    await expect(page.locator("[data-testid=dispute-id]")).to_have_text(dispute_id)


async def reload_until_visible(page: Page, selector: str, *, timeout_s: float = 30.0) -> Locator:
    """Reload until `selector` shows (a fact another service sends later: a new report, the verdict).
    Each look is Playwright's own polling `expect`; the page is server-rendered, so a new fact needs a load."""
    target = page.locator(selector)
    give_up = time.monotonic() + timeout_s
    while True:
        try:
            await expect(target).to_be_visible(timeout=1_500)
            return target
        except AssertionError:
            if time.monotonic() > give_up:
                raise
            await page.reload()


def kst_wall(text: str) -> datetime:
    """`2026-12-03 19:53:24` read as a KST wall time."""
    found = re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", text)
    assert found, f"no KST time in {text!r}"
    return datetime.strptime(found.group(0), "%Y-%m-%d %H:%M:%S").replace(tzinfo=KST)
