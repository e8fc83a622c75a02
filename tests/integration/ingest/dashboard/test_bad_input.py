"""Bad input on the dashboard (issue 19): another seller's case, script in what buyers and sellers
wrote, a service down while the page loads. Each is a readable page in the chosen language, never a
stack trace and never a 500."""

from __future__ import annotations

from tests.integration.ingest.dashboard.conftest import Browser, Stack, parse_page, sample, upload
from tests.integration.ingest.dashboard.page import parse

SCRIPT = "<script>alert('x')</script>"
IMG = '<img src=x onerror="alert(1)">'


async def test_another_sellers_case_is_a_readable_not_found_page(browser: Browser, stack: Stack):
    owner, secret = await stack.onboard()
    dispute_id = await stack.new_case(owner, secret)
    other, _ = await stack.onboard()
    await browser.sign_in(stack.token("seller", other))
    for path in (f"/dashboard/cases/{dispute_id}", "/dashboard/cases/CD-NEVER-SEEN", "/dashboard/cases/%20bad%00"):
        answer = await browser.get(path)
        assert answer.status_code == 404, (path, answer.text[:300])
        page = parse(answer.text)
        assert page.one(testid="not-found").text.startswith("未找到")
        assert "Traceback" not in answer.text
        assert dispute_id not in page.one("main").text  # nothing of the case itself
    # The owner sees it.
    await browser.sign_in(stack.token("seller", owner))
    assert (await browser.get(f"/dashboard/cases/{dispute_id}")).status_code == 200


async def test_script_in_a_reason_text_a_buyer_message_and_a_file_name_is_shown_as_text(browser: Browser, stack: Stack):
    seller_id, secret = await stack.onboard()
    dispute_id = await stack.new_case(seller_id, secret, reason_text=SCRIPT, buyer_id="B-XSS")
    await stack.known_to("evidence", f"/v1/cases/{dispute_id}/evidence", seller_id)
    await browser.sign_in(stack.token("seller", seller_id))
    log = sample("messages_coupang")
    log["messages"][0]["text"] = IMG
    kind = log.pop("kind")
    assert (await upload(browser, dispute_id, kind, log)).status_code == 303
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    named = await upload(
        browser, dispute_id, "product_photo", {"note": SCRIPT}, file=(f"{SCRIPT}.png", png, "image/png")
    )
    assert named.status_code == 303

    for path in ("/dashboard", f"/dashboard/cases/{dispute_id}"):
        html = parse_page(await browser.get(path))
        raw = (await browser.get(path)).text
        assert "<script>alert" not in raw and "<img src=x" not in raw
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in raw
        assert [s.get("src") for s in html.all("script")] == ["/dashboard/static/dashboard.js"]
        assert not html.all("img")
    page = parse_page(await browser.get(f"/dashboard/cases/{dispute_id}"))
    assert page.one("dd", "reason-text").text == SCRIPT  # the text itself, as the seller wrote it
    assert "onerror" in page.text  # the buyer's message is shown, as text


async def test_a_stopped_service_is_one_panel_with_a_message_and_the_rest_of_the_page_renders(
    browser: Browser, stack: Stack
):
    seller_id, secret = await stack.onboard()
    dispute_id = await stack.new_case(seller_id, secret)
    await stack.known_to("deadline", f"/v1/deadlines/{dispute_id}", seller_id)
    await browser.sign_in(stack.token("seller", seller_id))
    await browser.get("/dashboard/lang/ko?next=/dashboard")
    await stack.stop("deadline")
    try:
        answer = await browser.get(f"/dashboard/cases/{dispute_id}")
        assert answer.status_code == 200
        page = parse(answer.text)
        [down] = page.all(testid="service-unavailable")
        assert down.get("data-service") == "deadline"
        assert down.text.startswith("마감 서비스에 지금 연결할 수 없습니다")
        assert page.one(testid="timeline").all(testid="timeline-entry")  # the rest of the page is there
        assert page.one(testid="report") and page.one("form", "upload-form")
        assert "Traceback" not in answer.text
    finally:
        await stack.start("deadline")
    page = parse_page(await browser.get(f"/dashboard/cases/{dispute_id}"))
    assert not page.all(testid="service-unavailable") and page.one(testid="reminders")


async def test_a_stopped_service_on_a_page_of_its_own_and_on_a_post(browser: Browser, stack: Stack):
    seller_id, secret = await stack.onboard()
    dispute_id = await stack.new_case(seller_id, secret)
    await stack.known_to("evidence", f"/v1/cases/{dispute_id}/evidence", seller_id)
    await browser.sign_in(stack.token("seller", seller_id))
    form = await browser.get(f"/dashboard/cases/{dispute_id}")
    await stack.stop("notify")
    await stack.stop("evidence")
    try:
        prefs = await browser.get("/dashboard/preferences")
        assert prefs.status_code == 200
        assert parse(prefs.text).one(testid="service-unavailable").get("data-service") == "notify"
        page = parse_page(await browser.get(f"/dashboard/cases/{dispute_id}"))
        assert {d.get("data-service") for d in page.all(testid="service-unavailable")} == {"evidence"}
        assert page.one(testid="report").get("data-status") == "unavailable"
        csrf = parse(form.text).one("form", "check-form").one("input", name="csrf").get("value")
        checked = await browser.post(f"/dashboard/cases/{dispute_id}/check", {"csrf": csrf})
        assert checked.status_code == 303 and checked.headers["location"].endswith("?unavailable=evidence")
        shown = parse_page(await browser.get(checked.headers["location"]))
        assert "证据 服务暂时无法访问" in shown.text
    finally:
        await stack.start("evidence")
        await stack.start("notify")
