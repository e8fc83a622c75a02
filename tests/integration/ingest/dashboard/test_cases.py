"""The case list: most urgent first, countdowns in KST/Beijing, filters, paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration.ingest.dashboard.conftest import Browser, Stack, eventually, parse_page


async def _deadlines_known(stack: Stack, seller_id: str, dispute_ids: list[str]) -> None:
    async def probe() -> bool:
        answer = await stack.api("ingest", "GET", "/v1/cases", seller_id=seller_id, params={"limit": 200})
        items = {c["dispute_id"]: c for c in answer.json()["items"]}
        return all(items.get(d, {}).get("deadline") for d in dispute_ids)

    await eventually(probe, timeout_s=60, what="deadlines at ingest")


async def test_open_cases_come_by_nearest_deadline_then_the_rest_with_a_live_countdown(browser: Browser, stack: Stack):
    seller_id, secret = await stack.onboard()
    now = datetime.now(UTC)
    later = await stack.new_case(seller_id, secret, respond_by=(now + timedelta(days=9)).isoformat())
    sooner = await stack.new_case(seller_id, secret, respond_by=(now + timedelta(days=2)).isoformat())
    middle = await stack.new_case(seller_id, secret, respond_by=(now + timedelta(days=5)).isoformat())
    conceded = await stack.new_case(seller_id, secret, respond_by=(now + timedelta(days=1)).isoformat())
    await _deadlines_known(stack, seller_id, [later, sooner, middle, conceded])
    accepted = await stack.api("ingest", "POST", f"/v1/cases/{conceded}/accept", seller_id=seller_id)
    assert accepted.status_code == 200, accepted.text

    await browser.sign_in(stack.token("seller", seller_id))
    page = parse_page(await browser.get("/dashboard"))
    rows = page.all("tr", "case-row")
    assert [r.get("data-dispute-id") for r in rows] == [sooner, middle, later, conceded]
    first = rows[0]
    assert first.one("a").get("href") == f"/dashboard/cases/{sooner}"
    assert "未收到商品" in first.text and "32900 KRW" in first.text and "可以" not in first.text
    countdown = first.one(testid="countdown")
    due = datetime.fromisoformat(countdown.get("data-deadline").replace("Z", "+00:00"))
    assert abs(due - (now + timedelta(days=2))) < timedelta(seconds=2)
    assert countdown.text.startswith("1天") or countdown.text.startswith("2天")
    assert "KST" in first.text and "北京时间" in first.text
    assert rows[-1].get("data-status") == "accepted" and not rows[-1].all(testid="countdown")
    assert page.one(testid="kst-clock").get("data-zone") == "Asia/Seoul"

    only_accepted = parse_page(await browser.get("/dashboard", params={"status": "accepted"}))
    assert [r.get("data-dispute-id") for r in only_accepted.all("tr", "case-row")] == [conceded]
    assert only_accepted.one("select", name="status").one("option", value="accepted").get("selected") is not None


async def test_the_reason_filter_and_paging_follow_the_api_cursor(browser: Browser, stack: Stack):
    seller_id, secret = await stack.onboard()
    disputes = [
        {
            "dispute_id": f"CD-P{n:02d}-{seller_id}",
            "kind": "chargeback",
            "order_id": f"30009876{n:05d}",
            "amount": {"value": "1000", "currency": "KRW"},
            "reason_code": "DAMAGED" if n == 7 else "NOT_RECEIVED",
        }
        for n in range(27)
    ]
    await stack.notice(seller_id, secret, *disputes)
    await browser.sign_in(stack.token("seller", seller_id))

    first = parse_page(await browser.get("/dashboard"))
    ids = [r.get("data-dispute-id") for r in first.all("tr", "case-row")]
    assert len(ids) == 25
    next_link = first.one("a", "next-page").get("href")
    assert next_link.startswith("/dashboard?cursor=")
    second = parse_page(await browser.get(next_link))
    more = [r.get("data-dispute-id") for r in second.all("tr", "case-row")]
    assert len(more) == 2 and not set(ids) & set(more)
    assert set(ids) | set(more) == {d["dispute_id"] for d in disputes}
    assert not second.all(testid="next-page")

    damaged = parse_page(await browser.get("/dashboard", params={"reason": "DAMAGED"}))
    assert [r.get("data-dispute-id") for r in damaged.all("tr", "case-row")] == [f"CD-P07-{seller_id}"]
    nonsense = parse_page(await browser.get("/dashboard", params={"reason": "<b>", "status": "nope", "cursor": "!!"}))
    assert len(nonsense.all("tr", "case-row")) == 25  # unknown values are ignored, not a JSON 422
