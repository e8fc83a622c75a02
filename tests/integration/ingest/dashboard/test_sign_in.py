"""Signing in and out of the dashboard: the cookie and its flags, a forged or expired token, CSRF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.web.auth import mint_token
from tests.integration.ingest.dashboard.conftest import Browser, Stack
from tests.integration.ingest.dashboard.page import parse


async def test_the_sign_in_page_has_the_form_and_the_fragment_script(browser: Browser):
    answer = await browser.get("/dashboard/sign-in")
    assert answer.status_code == 200
    page = parse(answer.text)
    form = page.one("form", "sign-in-form")
    assert form.get("method") == "post" and form.get("action") == "/dashboard/sign-in"
    assert form.one("input", name="token") and form.all("button", type="submit")
    assert page.one("html").get("lang") == "zh-CN"  # Chinese by default
    assert page.one("script").get("src") == "/dashboard/static/dashboard.js"
    script = await browser.get("/dashboard/static/dashboard.js")
    assert script.status_code == 200 and "token=" in script.text and "replaceState" in script.text
    assert "default-src 'self'" in answer.headers["content-security-policy"]


async def test_a_good_token_signs_in_with_a_strict_httponly_cookie_and_sign_out_ends_it(browser: Browser, stack: Stack):
    seller_id, _ = await stack.onboard()
    answer = await browser.sign_in(stack.token("seller", seller_id))
    assert answer.headers["location"] == "/dashboard"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("dd_session=")
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/dashboard"} <= flags
    assert (await browser.get("/dashboard")).status_code == 200

    csrf = await browser.csrf()
    out = await browser.post("/dashboard/sign-out", {"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"].startswith("/dashboard/sign-in")
    assert 'dd_session=""' in out.headers["set-cookie"] or "max-age=0" in out.headers["set-cookie"].lower()
    after = await browser.get("/dashboard")
    assert after.status_code == 303 and after.headers["location"].startswith("/dashboard/sign-in")


async def test_a_bad_token_is_the_form_again_with_a_message(browser: Browser, stack: Stack):
    forged = mint_token("another-secret-that-is-long-enough-to-sign", "seller", "V1")
    for token in ("not-a-jwt", forged, ""):
        answer = await browser.post("/dashboard/sign-in", {"token": token})
        assert answer.status_code == 401
        page = parse(answer.text)
        assert page.one("form", "sign-in-form")
        assert page.one(testid="error").text == "令牌无效，请检查后重试。"
        assert "set-cookie" not in answer.headers


async def test_a_forged_or_expired_cookie_goes_back_to_sign_in_with_a_message(browser: Browser, stack: Stack):
    expired = mint_token(
        stack.secret, "seller", "V1", ttl=timedelta(minutes=1), now=datetime.now(UTC) - timedelta(hours=1)
    )
    forged = mint_token("another-secret-that-is-long-enough-to-sign", "operator")
    for cookie, message in ((expired, "登录已过期，请重新登录。"), (forged, "令牌无效，请检查后重试。")):
        browser.client.cookies.set("dd_session", cookie, path="/dashboard")
        answer = await browser.get("/dashboard/cases/CD-1")
        assert answer.status_code == 303
        assert "dd_session" in answer.headers["set-cookie"]  # the bad cookie is cleared
        browser.client.cookies.clear()
        page = parse((await browser.get(answer.headers["location"])).text)
        assert page.one(testid="message").text == message
        assert page.one("form", "sign-in-form")


async def test_a_post_without_the_csrf_token_or_from_another_origin_is_refused(browser: Browser, stack: Stack):
    seller_id, secret = await stack.onboard()
    dispute_id = await stack.new_case(seller_id, secret)
    await browser.sign_in(stack.token("seller", seller_id))
    csrf = await browser.csrf()
    path = f"/dashboard/cases/{dispute_id}/submit"
    no_token = await browser.post(path, {"idempotency_key": "k1"})
    wrong_token = await browser.post(path, {"csrf": "0" * 64, "idempotency_key": "k1"})
    foreign = await browser.post(path, {"csrf": csrf}, headers={"Origin": "https://evil.example"})
    no_origin = await browser.client.post(path, data={"csrf": csrf})  # neither Origin nor Referer
    for answer in (no_token, wrong_token, foreign, no_origin):
        assert answer.status_code == 403, answer.text
        assert parse(answer.text).one(testid="error")
    sign_in_foreign = await browser.post(
        "/dashboard/sign-in", {"token": stack.token("seller", seller_id)}, headers={"Origin": "https://evil.example"}
    )
    assert sign_in_foreign.status_code == 403 and "set-cookie" not in sign_in_foreign.headers
    # Nothing reached the submit service.
    assert (
        await stack.api("submit", "GET", f"/v1/cases/{dispute_id}/submission", seller_id=seller_id)
    ).status_code == 404
    # With the page's own Referer instead of an Origin the same POST would be accepted.
    referer = await browser.client.post(
        "/dashboard/sign-out", data={"csrf": csrf}, headers={"Referer": f"{browser.origin}/dashboard"}
    )
    assert referer.status_code == 303


async def test_a_multipart_form_as_curl_f_sends_it_works_like_the_browsers_and_a_file_part_does_not(
    browser: Browser, stack: Stack
):
    seller_id, _ = await stack.onboard()
    token = stack.token("seller", seller_id)
    # curl -F token=… / requests with files=: multipart/form-data, text parts only.
    signed_in = await browser.post("/dashboard/sign-in", files={"token": (None, token)})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/dashboard"
    assert signed_in.headers["set-cookie"].startswith("dd_session=")
    browser.client.cookies.clear()
    as_file = await browser.post("/dashboard/sign-in", files={"token": ("token.txt", token.encode())})
    assert as_file.status_code != 303 and "dd_session=" not in as_file.headers.get("set-cookie", "")
