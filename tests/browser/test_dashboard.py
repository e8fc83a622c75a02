"""The Case Status Dashboard in chromium, on the whole system running as processes (issue 19, "Prove it").

Each test makes its own seller and cases through the public APIs (tests/browser/desk.py), so the tests
share the running system without seeing each other's data. Every step leaves a screenshot in
.local/test/artifacts/browser/<test>/ and passes axe-core; no test may log a console error it does not
declare (tests/browser/conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

from playwright.async_api import Dialog, Page, expect

from shared.web.auth import mint_token
from tests.browser.conftest import Console, Steps
from tests.browser.desk import KST, ORDER, Desk, dispute, sample
from tests.browser.pages import (
    CJK,
    HANGUL,
    kst_wall,
    listed_ids,
    open_case,
    reload_until_visible,
    rows,
    sign_in,
)
from tests.system import RunningSystem


def month() -> str:
    return datetime.now(KST).strftime("%Y-%m")


NOT_FOUND_STATUS = r"status of 404"  # chromium logs a document answered 404 as a failed resource


async def test_sign_in_with_the_form_then_the_list_is_most_urgent_first_and_its_clocks_tick(
    page: Page, step: Steps, desk: Desk
):
    seller = await desk.onboard()
    later, soonest, middle, conceded = await desk.open_cases(seller, dispute(9), dispute(2), dispute(5), dispute(1))
    await desk.accept(seller, conceded)  # closed: after every open case, however near its deadline was

    await page.goto("/dashboard")
    await expect(page.locator("form[data-testid=sign-in-form]")).to_be_visible()  # not signed in yet
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")  # Chinese, whatever the browser says
    await step("sign-in")
    await sign_in(page, seller.token)
    await expect(rows(page)).to_have_count(4)
    await step("case-list")

    assert await listed_ids(page) == [soonest, middle, later, conceded]
    countdowns = page.locator("[data-testid=case-row] [data-testid=countdown]")
    await expect(countdowns).to_have_count(3)  # the open ones
    deadlines = [await c.get_attribute("data-deadline") or "" for c in await countdowns.all()]
    assert deadlines == sorted(deadlines) and all(d.endswith("Z") or d.endswith("+00:00") for d in deadlines)

    first = countdowns.first
    shown = await first.inner_text()
    await expect(first).not_to_have_text(shown, timeout=2_000)  # it ticks
    clock = page.locator("[data-testid=kst-clock]")
    seen = await clock.inner_text()
    await expect(clock).not_to_have_text(seen, timeout=2_000)
    # The browser runs in New York time: the clock still shows Seoul's.
    assert abs(kst_wall(await clock.inner_text()) - datetime.now(KST)) < timedelta(seconds=5)

    session = next(c for c in await page.context.cookies() if c["name"] == "dd_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/dashboard"

    await page.locator("[data-testid=sign-out-form] button[type=submit]").click()
    await expect(page.locator("form[data-testid=sign-in-form]")).to_be_visible()
    await step("signed-out")
    await page.goto("/dashboard")
    await expect(page.locator("form[data-testid=sign-in-form]")).to_be_visible()  # the session is gone


async def test_a_sign_in_link_signs_in_and_the_token_leaves_the_address_bar(page: Page, step: Steps, desk: Desk):
    seller = await desk.onboard()
    dispute_id = await desk.open_case(seller)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    await page.goto(f"/dashboard/sign-in#token={seller.token}")
    await expect(page).to_have_url(re.compile(r"/dashboard/?$"))
    await expect(rows(page)).to_have_count(1)
    assert await listed_ids(page) == [dispute_id]
    await step("signed-in-by-link")
    assert seller.token not in page.url
    assert not [url for url in requests if seller.token in url]  # a fragment is never sent; nor is it put in a URL


async def test_the_list_filters_by_status_and_reason_and_pages(page: Page, step: Steps, desk: Desk):
    seller = await desk.onboard()
    damaged, fixing, *rest = await desk.open_cases(
        seller,
        dispute(3, reason_code="DAMAGED", reason_text="商品破损"),
        dispute(4),
        *[dispute(5 + n % 20) for n in range(24)],
    )
    await desk.upload(seller, fixing, sample("tracking_cj_delivered"))  # the proof of delivery is missing
    await desk.until_case_status(seller, fixing, "needs_fix")
    await sign_in(page, seller.token)

    await expect(rows(page)).to_have_count(25)  # a page
    next_page = page.locator("[data-testid=next-page]")
    await expect(next_page).to_be_visible()
    first_page = await listed_ids(page)
    await next_page.click()
    await expect(rows(page)).to_have_count(1)
    second_page = await listed_ids(page)
    await step("second-page")
    assert sorted(first_page + second_page) == sorted([damaged, fixing, *rest])

    await page.goto("/dashboard")
    await page.locator("select[name=reason]").select_option("DAMAGED")
    await page.locator("[data-testid=filters] button[type=submit]").click()
    await expect(rows(page)).to_have_count(1)
    assert await listed_ids(page) == [damaged]
    await step("reason-damaged", axe=False)  # the list, checked at the step before

    await page.locator("select[name=reason]").select_option("")
    await page.locator("select[name=status]").select_option("needs_fix")
    await page.locator("[data-testid=filters] button[type=submit]").click()
    await expect(rows(page)).to_have_count(1)
    assert await listed_ids(page) == [fixing]
    await expect(rows(page).first).to_have_attribute("data-status", "needs_fix")
    await step("status-needs-fix", axe=False)


async def test_the_case_page_switches_language_and_remembers_it(page: Page, step: Steps, desk: Desk):
    seller = await desk.onboard()
    dispute_id = await desk.open_case(seller)
    await desk.upload(seller, dispute_id, sample("tracking_cj_delivered"))
    await desk.until_report(seller, dispute_id, "needs_fix")
    await sign_in(page, seller.token)
    await rows(page).first.locator("a").click()
    await expect(page.locator("[data-testid=dispute-id]")).to_have_text(dispute_id)

    for panel in ("timeline", "deadline", "reminders", "report", "buyer-risk"):
        await expect(page.locator(f"[data-testid={panel}]")).to_be_visible()
    await expect(page.locator("[data-testid=timeline-entry]").first).to_be_visible()
    finding = page.locator("[data-testid=finding][data-code=required_evidence_missing]")
    await expect(finding).to_be_visible()
    assert CJK.search(await finding.inner_text())
    await step("case-zh")

    await page.locator("[data-testid=lang-ko]").click()
    await expect(page.locator("html")).to_have_attribute("lang", "ko")
    assert HANGUL.search(await finding.inner_text())
    await step("case-ko")

    await page.locator("[data-testid=lang-en]").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    assert not CJK.search(await finding.inner_text()) and not HANGUL.search(await finding.inner_text())
    await expect(page.locator("[data-testid=dispute-id]")).to_have_text(dispute_id)  # still this case
    await step("case-en")

    await page.reload()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.goto("/dashboard")
    await expect(page.locator("html")).to_have_attribute("lang", "en")  # remembered, on every page
    await step("list-en")


async def test_a_buyers_repeated_disputes_give_a_note_ready_to_copy(page: Page, step: Steps, desk: Desk):
    seller = await desk.onboard()
    first, *_ = await desk.open_cases(seller, dispute(3), dispute(4), dispute(5))  # one buyer, three disputes
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await sign_in(page, seller.token)
    await open_case(page, first)
    risk = page.locator("[data-testid=buyer-risk]")
    await expect(risk.locator("[data-abnormal=true]")).to_be_visible()
    notes = risk.locator("[data-testid=buyer-risk-note]")
    await expect(notes).to_have_count(2)  # Korean for the platform's reviewers, Chinese for the seller's staff
    await step("buyer-risk")
    for note, script in zip(await notes.all(), (HANGUL, CJK), strict=True):
        text = await note.input_value()
        assert script.search(text) and ORDER in text, text
        box = note.locator("xpath=..")
        await box.locator("[data-testid=copy-note]").click()
        await expect(box.locator(".copied")).not_to_be_empty()  # the copy is done
        assert await page.evaluate("() => navigator.clipboard.readText()") == text


async def test_upload_through_the_page_makes_the_report_ready_then_submit_shows_receipt_and_verdict(
    page: Page, step: Steps, desk: Desk, tmp_path: Path
):
    seller = await desk.onboard()
    await desk.verdict_soon(seller, "won")
    dispute_id = await desk.open_case(seller)
    await desk.upload(seller, dispute_id, sample("tracking_cj_delivered"))
    await desk.upload(seller, dispute_id, sample("messages_coupang"))
    await desk.until_report(seller, dispute_id, "needs_fix")
    await sign_in(page, seller.token)
    await open_case(page, dispute_id)
    await expect(page.locator("[data-testid=report]")).to_have_attribute("data-status", "needs_fix")
    await expect(page.locator("[data-testid=finding][data-code=required_evidence_missing]")).to_be_visible()
    await expect(page.locator("[data-testid=evidence-item]")).to_have_count(2)
    await step("needs-fix")

    # The missing proof of delivery, its scan as a file and its facts as the meta.
    scan = tmp_path / "배송완료_확인서.txt"
    scan.write_text("CJ대한통운 배송완료 확인서\n수령인 김*수\n서울특별시 강남구 역삼로 210, 7층 702호\n", "utf-8")
    pod = {key: value for key, value in sample("pod_complete").items() if key != "kind"}
    form = page.locator("form[data-testid=upload-form]")
    await form.locator("select[name=kind]").select_option("proof_of_delivery")
    await form.locator("textarea[name=meta]").fill(json.dumps(pod, ensure_ascii=False, indent=1))
    await form.locator("input[name=file]").set_input_files(scan)
    await step("upload-filled", axe=False)  # the page of the step before, typed in
    await form.locator("button[type=submit]").click()
    await expect(page.locator("[data-testid=evidence-item]")).to_have_count(3)
    await expect(page.locator("[data-testid=evidence-item][data-kind=proof_of_delivery]")).to_contain_text(scan.name)
    await step("uploaded")

    await reload_until_visible(page, "[data-testid=report][data-status=ready]")  # the checker runs debounced
    await expect(page.locator("[data-testid=finding][data-code=required_evidence_missing]")).to_have_count(0)
    await step("ready")

    await page.locator("form[data-testid=submit-form] button").click()
    receipt = page.locator("[data-testid=receipt]")
    await expect(receipt).to_be_visible()
    await expect(page.locator("[data-testid=receipt-id]")).to_have_text(re.compile(r"\S{4,}"))
    await step("receipt")

    verdict = await reload_until_visible(page, "[data-testid=verdict]")
    await expect(verdict).to_have_attribute("data-outcome", "won")
    assert CJK.search(await page.locator("[data-testid=verdict-summary]").inner_text())
    await step("verdict")


async def test_a_double_clicked_submit_makes_one_submission(page: Page, step: Steps, desk: Desk):
    seller = await desk.onboard()
    dispute_id = await desk.open_case(seller)
    for name in ("tracking_cj_delivered", "pod_complete", "messages_coupang"):
        await desk.upload(seller, dispute_id, sample(name))
    await desk.until_case_status(seller, dispute_id, "ready")
    await sign_in(page, seller.token)
    await open_case(page, dispute_id)
    await step("ready")

    await page.locator("form[data-testid=submit-form] button").dblclick()
    await expect(page.locator("[data-testid=receipt]")).to_be_visible()
    await expect(page.locator("[data-testid=action-error]")).to_have_count(0)  # no "already submitted"
    shown = await page.locator("[data-testid=receipt-id]").inner_text()
    await step("receipt")

    case = await desk.until_case(seller, dispute_id, lambda case: case["receipt_id"] is not None)
    assert case["receipt_id"] == shown
    assert [e["type"] for e in case["timeline"]].count("case.submitted") == 1


async def test_the_preferences_and_the_fee_statement_pages_render(page: Page, step: Steps, desk: Desk):
    seller = await desk.onboard()
    await desk.set_plan(seller, tier="pro", base_fee="990.00")
    await sign_in(page, seller.token)
    answer = await page.goto("/dashboard/preferences")
    assert answer is not None and answer.status == 200
    await expect(page.locator("main h1")).to_be_visible()
    await expect(page.locator("[data-testid=service-unavailable]")).to_have_count(0)  # none saved yet: said so
    await step("preferences")
    answer = await page.goto(f"/dashboard/statement?month={month()}")
    assert answer is not None and answer.status == 200
    await expect(page.locator("main")).to_contain_text("990.00")  # the plan's base fee, the month's one line
    await expect(page.locator("[data-testid=service-unavailable]")).to_have_count(0)
    await step("statement")


async def test_a_statement_without_a_fee_plan_does_not_say_the_service_is_down(page: Page, step: Steps, desk: Desk):
    # Ingest answers 409 plan_not_set: a readable refusal, not an outage (every service is up).
    seller = await desk.onboard()
    await sign_in(page, seller.token)
    answer = await page.goto(f"/dashboard/statement?month={month()}")
    assert answer is not None and answer.status == 200
    await expect(page.locator("main h1")).to_be_visible()
    await step("statement-no-plan")
    await expect(page.locator("[data-testid=service-unavailable]")).to_have_count(0)
    await expect(page.locator("[data-testid=panel-refused][data-code=plan_not_set]")).to_be_visible()


async def test_a_forged_or_expired_cookie_is_the_sign_in_page_with_a_message(page: Page, step: Steps, desk: Desk):
    seller = await desk.onboard()
    forged = mint_token("not-the-service-secret-but-32-bytes-long", "seller", seller.seller_id)
    expired = mint_token(desk.auth_secret, "seller", seller.seller_id, now=datetime.now(KST) - timedelta(hours=13))
    messages = []
    for name, token in (("forged", forged), ("expired", expired), ("garbage", "<script>alert(1)</script>")):
        await page.context.clear_cookies()
        await page.context.add_cookies(
            [{"name": "dd_session", "value": token, "url": desk.system.url("ingest") + "/dashboard"}]
        )
        await page.goto("/dashboard")
        await expect(page.locator("form[data-testid=sign-in-form]")).to_be_visible()
        message = page.locator("[data-testid=error], [data-testid=message]")
        await expect(message).to_be_visible()
        messages.append(await message.inner_text())
        assert CJK.search(messages[-1]), messages[-1]  # in the page's language, not a stack trace
        await expect(rows(page)).to_have_count(0)
        await step(f"{name}-cookie", axe=name == "forged")  # one sign-in page, three messages
    assert messages[0] != messages[1]  # an expired session says so


async def test_another_sellers_case_is_not_found(page: Page, step: Steps, desk: Desk, console: Console):
    owner, other = await desk.onboard(), await desk.onboard()
    dispute_id = await desk.open_case(owner, reason_text="只有卖家本人能看到的原因")
    console.allow(NOT_FOUND_STATUS)
    await sign_in(page, other.token)
    await expect(rows(page)).to_have_count(0)
    await page.goto(f"/dashboard/cases/{dispute_id}")
    await expect(page.locator("[data-testid=not-found]")).to_be_visible()
    await expect(page.locator("body")).not_to_contain_text("只有卖家本人能看到的原因")
    await step("not-found")


async def test_a_script_in_a_reason_text_a_buyer_message_or_a_file_name_is_shown_as_text(
    page: Page, step: Steps, desk: Desk
):
    payload = '<script>alert("reason")</script><img src=x onerror=alert("img")>'
    seller = await desk.onboard()
    dispute_id = await desk.open_case(seller, reason_text=payload)
    said = "<script>alert('buyer')</script>"
    messages = sample("messages_coupang")
    messages["messages"][0]["text"] = said
    await desk.upload(seller, dispute_id, messages)
    name = '<img src=x onerror=alert("file")>.txt'
    answer = await desk.client.post(
        desk.url("evidence", f"/v1/cases/{dispute_id}/evidence"),
        headers=seller.headers,
        data={"meta": '{"kind": "other", "note": "<script>alert(\\"note\\")</script>"}'},
        files={"file": (name, "운송장 사본".encode(), "text/plain")},
    )
    assert answer.status_code == 201, answer.text
    dialogs: list[str] = []

    async def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    await sign_in(page, seller.token)
    await expect(page.locator("[data-testid=case-row] [data-testid=reason-text]")).to_have_text(payload)
    await step("list")
    await open_case(page, dispute_id)
    await expect(page.locator("[data-testid=reason-text]")).to_have_text(payload)
    filename = page.locator("[data-testid=evidence-item] [data-testid=filename]")
    await expect(filename).to_contain_text("onerror")  # the name as text (evidence may have made it safe)
    await expect(page.locator("[data-testid=evidence-item][data-kind=message_log]")).to_contain_text(said)
    await step("case")
    assert await page.locator("main script, main img").count() == 0
    assert dialogs == []


async def test_a_stopped_service_leaves_its_panel_unavailable_and_the_page_readable(
    page: Page, step: Steps, desk: Desk, system: RunningSystem
):
    seller = await desk.onboard()
    dispute_id = await desk.open_case(seller)
    await sign_in(page, seller.token)
    await asyncio.to_thread(system.stop, "deadline")
    try:
        answer = await page.goto(f"/dashboard/cases/{dispute_id}")
        assert answer is not None and answer.status == 200
        panel = page.locator("[data-testid=service-unavailable][data-service=deadline]")
        await expect(panel).to_be_visible()
        assert CJK.search(await panel.inner_text())
        await expect(page.locator("[data-testid=timeline-entry]").first).to_be_visible()  # ingest still answers
        await expect(page.locator("[data-testid=report]")).to_be_visible()
        await step("deadline-down-zh")
        await page.locator("[data-testid=lang-en]").click()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        text = await panel.inner_text()
        assert re.search(r"[A-Za-z]{3}", text) and not CJK.search(text), text
        await step("deadline-down-en")
    finally:
        await asyncio.to_thread(system.start, "deadline")
