"""The case page over the real services: timeline, deadline and reminders, the report in the chosen
language with fixes and the statement template, flagged fields, upload streamed through, submit
(idempotent on a double click), receipt, verdict, the buyer-risk note."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re

from tests import screens
from tests.integration.ingest.dashboard.conftest import (
    ORDER,
    Browser,
    Stack,
    eventually,
    parse_page,
    report_of,
    sample,
    upload,
    upload_clean,
)


async def _case(stack: Stack, **fields) -> tuple[str, str]:
    seller_id, secret = await stack.onboard()
    dispute_id = await stack.new_case(seller_id, secret, **fields)
    await stack.known_to("evidence", f"/v1/cases/{dispute_id}/evidence", seller_id)
    await stack.known_to("deadline", f"/v1/deadlines/{dispute_id}", seller_id)
    return seller_id, dispute_id


async def test_the_report_its_fixes_and_the_flagged_fields_in_the_chosen_language(browser: Browser, stack: Stack):
    seller_id, dispute_id = await _case(stack)
    await browser.sign_in(stack.token("seller", seller_id))
    taobao = {**sample("tracking_cj_delivered"), "carrier": "淘宝物流"}
    wechat = {**sample("messages_coupang"), "source": "wechat"}
    for meta in (taobao, wechat):
        answer = await upload(browser, dispute_id, meta.pop("kind"), meta)
        assert answer.status_code == 303 and answer.headers["location"].endswith("?done=upload")

    page = await report_of(browser, dispute_id, "needs_fix", lang="zh")
    assert page.one("html").get("lang") == "zh-CN"
    codes = {f.get("data-code") for f in page.all(testid="finding")}
    assert {"carrier_not_accepted", "message_source_not_accepted"} <= codes
    carrier = page.one(testid="finding", data_code="carrier_not_accepted")
    assert "修改建议" in carrier.text
    zh_text = carrier.text
    items = page.all(testid="evidence-item")
    assert len(items) == 2
    flagged = {n.get("data-field") for item in items for n in item.all("dt") if "field-flagged" in n.classes()}
    assert {"carrier", "source"} <= flagged
    unflagged = {n.get("data-field") for item in items for n in item.all("dt") if "field-flagged" not in n.classes()}
    assert "tracking_number" in unflagged
    assert page.one(testid="statement-template").text  # the statement template, from evidence's /v1/templates

    switched = await browser.get(f"/dashboard/lang/en?next=/dashboard/cases/{dispute_id}")
    assert switched.status_code == 303 and switched.headers["location"] == f"/dashboard/cases/{dispute_id}"
    assert "dd_lang=en" in switched.headers["set-cookie"]
    english = parse_page(await browser.get(f"/dashboard/cases/{dispute_id}"))
    assert english.one("html").get("lang") == "en"
    assert english.one(testid="report").get("data-lang") == "en"
    en_text = english.one(testid="finding", data_code="carrier_not_accepted").text
    assert "How to fix" in en_text and en_text != zh_text
    assert english.one(testid="lang-en").get("aria-current") == "true"

    await browser.get("/dashboard/lang/ko?next=/dashboard")
    korean = parse_page(await browser.get(f"/dashboard/cases/{dispute_id}"))
    assert korean.one("html").get("lang") == "ko" and korean.one(testid="report").get("data-lang") == "ko"
    assert "수정 방법" in korean.one(testid="finding", data_code="carrier_not_accepted").text


async def test_a_finding_read_from_a_screenshot_quotes_the_line_and_links_the_item(browser: Browser, stack: Stack):
    seller_id, dispute_id = await _case(stack, reason_code="NOT_AS_DESCRIBED")
    await browser.sign_in(stack.token("seller", seller_id))
    meta = {"source": "coupang_messages", "order_id": ORDER}
    answer = await upload(browser, dispute_id, "message_log", meta, ("wx.png", screens.wechat_chat(), "image/png"))
    assert answer.status_code == 303, answer.text

    page = await report_of(browser, dispute_id, "needs_fix", lang="zh")
    finding = page.one(testid="finding", data_code="message_source_not_accepted")
    quote = finding.one(testid="finding-image-text")
    assert "微信" in quote.text and "图片中的文字" in quote.text
    left, top, width, height = (int(n) for n in (quote.get("data-box") or "").split(","))
    assert top < 200 and width > 0 and height > 0  # the title bar's line, where the page can mark it
    link = quote.one("a").get("href") or ""
    [item] = page.all(testid="evidence-item")
    assert link == f"#{item.get('id')}" and item.get("data-evidence-id") in link


async def test_a_large_upload_is_streamed_through_to_evidence(browser: Browser, stack: Stack):
    seller_id, dispute_id = await _case(stack)
    await browser.sign_in(stack.token("seller", seller_id))
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(7 * 1024 * 1024)  # 7 MiB: many chunks through the page server
    answer = await upload(browser, dispute_id, "product_photo", {}, file=("photo.png", data, "image/png"))
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=upload"), answer.headers
    listing = await stack.api("evidence", "GET", f"/v1/cases/{dispute_id}/evidence", seller_id=seller_id)
    [item] = listing.json()["items"]
    assert item["size"] == len(data) and item["sha256"] == hashlib.sha256(data).hexdigest()
    assert item["uploader"] == f"seller:{seller_id}"  # sent with the signed-in seller's token
    page = parse_page(await browser.get(f"/dashboard/cases/{dispute_id}"))
    assert page.one(testid="evidence-item").one(testid="filename").text == "photo.png"


async def test_an_upload_over_the_limit_is_refused_before_evidence_reads_it(browser: Browser, stack: Stack):
    seller_id, dispute_id = await _case(stack)
    await browser.sign_in(stack.token("seller", seller_id))
    data = b"\x89PNG\r\n\x1a\n" + b"\0" * (23 * 1024 * 1024)
    answer = await upload(browser, dispute_id, "product_photo", {}, file=("big.png", data, "image/png"))
    assert answer.status_code == 303 and answer.headers["location"].endswith("?error=payload_too_large")
    page = parse_page(await browser.get(answer.headers["location"]))
    assert page.one(testid="action-error").text == "文件过大。"
    listing = await stack.api("evidence", "GET", f"/v1/cases/{dispute_id}/evidence", seller_id=seller_id)
    assert listing.json()["items"] == []


async def test_a_refused_upload_shows_the_reason_in_the_chosen_language(browser: Browser, stack: Stack):
    seller_id, dispute_id = await _case(stack)
    await browser.sign_in(stack.token("seller", seller_id))
    answer = await upload(browser, dispute_id, "product_photo", {})  # a photo needs a file
    assert answer.headers["location"].endswith("?error=file_required")
    page = parse_page(await browser.get(answer.headers["location"]))
    assert page.one(testid="action-error").text == "此类证据需要文件。"


async def test_timeline_deadline_submit_twice_receipt_and_verdict(browser: Browser, stack: Stack):
    seller_id, dispute_id = await _case(stack, buyer_id="B-REPEAT")
    await browser.sign_in(stack.token("seller", seller_id))
    page = parse_page(await browser.get(f"/dashboard/cases/{dispute_id}"))
    assert page.all(testid="timeline-entry")[0].get("data-type") == "dispute.received"
    deadline = page.one(testid="deadline")
    assert "KST" in deadline.text and "北京时间" in deadline.text
    assert [r.text.split()[0] for r in page.one(testid="reminders").all(testid="reminder")] == [
        "72h",
        "24h",
        "6h",
        "1h",
    ]
    assert page.one(testid="report").get("data-status") == "none"

    await upload_clean(browser, dispute_id)
    page = await report_of(browser, dispute_id, "ready")
    form = page.one("form", "submit-form")
    fields = {"csrf": hidden_of(form, "csrf"), "idempotency_key": hidden_of(form, "idempotency_key")}
    fields["report_id"] = hidden_of(form, "report_id")
    path = form.get("action")

    async def double_click() -> list[str] | None:
        answers = await asyncio.gather(browser.post(path, fields), browser.post(path, fields))
        locations = [a.headers["location"] for a in answers]
        assert all(a.status_code == 303 for a in answers)
        if any("error=evidence_not_ready" in loc for loc in locations):
            return None  # submit has not yet consumed the report: a refusal stores nothing, click again
        return locations

    locations = await eventually(double_click, timeout_s=60, what="submit accepted")
    assert locations == [f"/dashboard/cases/{dispute_id}"] * 2  # both clicks: the same submission, no error

    async def receipted():
        shown = parse_page(await browser.get(f"/dashboard/cases/{dispute_id}"))
        receipt = shown.all(testid="receipt")
        return shown if receipt and receipt[0].get("data-state") == "receipted" else None

    shown = await eventually(receipted, timeout_s=30, what="receipt")
    receipt_id = shown.one(testid="receipt-id").text
    assert re.match(r"^\S+$", receipt_id) and receipt_id != "—"
    assert not shown.all(testid="submit-form")
    submission = await stack.api("submit", "GET", f"/v1/cases/{dispute_id}/submission", seller_id=seller_id)
    assert submission.json()["receipt_id"] == receipt_id  # one submission for both clicks

    async def decided():
        page = parse_page(await browser.get(f"/dashboard/cases/{dispute_id}"))
        return page if page.all(testid="verdict") else None

    final = await eventually(decided, timeout_s=60, what="verdict")
    verdict = final.one(testid="verdict")
    assert verdict.get("data-outcome") == "won"
    assert dispute_id in verdict.one(testid="verdict-summary").text and "胜诉" in verdict.text
    types = [e.get("data-type") for e in final.all(testid="timeline-entry")]
    assert "case.submitted" in types
    risk = final.one(testid="buyer-risk")
    assert risk.one("p", data_abnormal="false").text.startswith("未发现异常模式")  # one dispute of this buyer


def hidden_of(form, name: str) -> str:
    return form.one("input", name=name).get("value")


async def test_the_buyer_risk_note_is_ready_to_copy_for_a_repeat_buyer(browser: Browser, stack: Stack):
    seller_id, secret = await stack.onboard()
    ids = [await stack.new_case(seller_id, secret, buyer_id="B-SERIAL", order_id=f"30001{n}") for n in range(3)]
    await browser.sign_in(stack.token("seller", seller_id))
    page = parse_page(await browser.get(f"/dashboard/cases/{ids[0]}"))
    risk = page.one(testid="buyer-risk")
    assert risk.one("p", data_abnormal="true").text.startswith("异常：")
    notes = risk.all("textarea", "buyer-risk-note")
    assert [n.get("data-lang") for n in notes] == ["ko", "zh"]  # Korean to attach, Chinese to read
    assert all(n.text and n.get("readonly") is not None for n in notes)
    assert [b.get("data-copy") for b in risk.all("button", "copy-note")] == [n.get("id") for n in notes]


async def test_preferences_and_the_fee_statement_of_a_month(browser: Browser, stack: Stack):
    seller_id, _ = await stack.onboard()
    await browser.sign_in(stack.token("seller", seller_id))
    none = parse_page(await browser.get("/dashboard/preferences"))
    assert none.one(testid="preferences-none")
    document = {
        "language": "zh",
        "events": ["dispute.received", "verdict.returned"],
        "channels": [{"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "whsec_" + "A" * 32}],
    }
    saved = await stack.api("notify", "PUT", "/v1/preferences", seller_id=seller_id, json=document)
    assert saved.status_code == 200, saved.text
    prefs = parse_page(await browser.get("/dashboard/preferences")).one(testid="preferences")
    assert prefs.one(testid="channel").get("data-type") == "webhook"
    assert "verdict.returned" in prefs.text and "whsec_A" not in prefs.text

    plan = {
        "tier": "pro",
        "base_fee": "500",
        "case_fee_domestic": "80",
        "case_fee_international": "150",
        "commission_rate": "0.04",
        "commission_cap": "2000",
    }
    put = await stack.api("ingest", "PUT", f"/v1/sellers/{seller_id}/plan", json=plan)
    assert put.status_code == 200, put.text
    month = hidden_month(await browser.get("/dashboard/statement"))
    statement = parse_page(await browser.get("/dashboard/statement", params={"month": month}))
    card = statement.one(testid="statement")
    assert card.get("data-month") == month and card.one(testid="statement-total").text.endswith("CNY")
    assert statement.all(testid="statement-line")


def hidden_month(answer) -> str:
    return hidden_value(answer.text, "month")


def hidden_value(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" type="month" value="([^"]*)"', html)
    assert found, html[:500]
    return found.group(1)
