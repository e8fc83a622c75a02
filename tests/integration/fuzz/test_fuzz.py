"""schemathesis over every service's OpenAPI document, in-process (ASGI) on the real test database.

Four callers per service: the seeded seller, an operator, another seller, and a stranger (no token
or a forged one). Each generated request (positive and negative data) must get:

- no 5xx (except the two the ops routes document: /readyz and /v1/ops/lag say 503 when Kafka or
  the consumer is not there, which is the case under the harness);
- a status, content type, headers and body that match the operation's document;
- for every 4xx, `application/problem+json` with a string `code`;
- for another seller or a stranger, none of the seeded seller's ids unless the request named them.

`DD_FUZZ_EXAMPLES` sets the examples per operation and caller (5 in `make test`, 100 in
`make fuzz`); generation is derandomised, so a run is repeatable.
"""

from __future__ import annotations

import os
import zlib
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck

from shared.web.auth import mint_token
from shared.web.problems import PROBLEM_MEDIA_TYPE
from tests.integration.fuzz.conftest import OTHER, SELLER, Target, sign
from tests.services import service_main, service_names

EXAMPLES = int(os.environ.get("DD_FUZZ_EXAMPLES", "5"))
TRACE = os.environ.get("DD_FUZZ_TRACE") == "1"  # print each request's answer (run with -s)
CALLERS = ["seller", "operator", "other_seller", "stranger"]
DOCUMENTED_5XX = {("GET", "/readyz", 503), ("GET", "/v1/ops/lag", 503)}
CHECKS = [
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]
_REQUEST_ARGS = ("method", "url", "headers", "files", "data", "params", "json", "cookies")


@pytest.fixture(params=CALLERS)
def caller(request: pytest.FixtureRequest) -> str:
    return request.param


def _pick(case: Any, salt: str) -> int:
    return zlib.crc32(f"{salt}|{case.path_parameters}|{case.query}|{case.body!r}".encode())


def _aim_at_seeded_data(case: Any, target: Target) -> None:
    """Half the cases name the seeded ids, so they reach real rows instead of 404 after 404."""
    if _pick(case, "aim") % 2:
        return
    for name in list(case.path_parameters or {}):
        if name in target.path_values:
            case.path_parameters[name] = target.path_values[name]
    if case.query and "seller_id" in case.query:
        case.query["seller_id"] = SELLER


def _authorise(case: Any, target: Target, caller: str) -> None:
    headers = dict(case.headers or {})
    headers.pop("Authorization", None)
    headers.pop("authorization", None)
    if caller == "seller":
        headers["Authorization"] = f"Bearer {target.token('seller', SELLER)}"
    elif caller == "operator":
        headers["Authorization"] = f"Bearer {target.token('operator')}"
    elif caller == "other_seller":
        headers["Authorization"] = f"Bearer {target.token('seller', OTHER)}"
    elif _pick(case, "stranger") % 2:
        headers["Authorization"] = f"Bearer {mint_token('not-the-secret-' * 3, 'seller', SELLER)}"
    case.headers = headers


def _send(case: Any, target: Target) -> tuple[httpx.Response, requests.PreparedRequest]:
    kwargs = case.as_transport_kwargs(base_url="http://service")
    prepared = requests.Request(**{k: v for k, v in kwargs.items() if k in _REQUEST_ARGS}).prepare()
    body = prepared.body.encode() if isinstance(prepared.body, str) else (prepared.body or b"")
    headers = dict(prepared.headers)
    is_webhook = case.operation.path == "/v1/webhooks/coupang/{seller_id}"
    if is_webhook and target.webhook_secret and case.path_parameters.get("seller_id") == SELLER:
        if _pick(case, "sign") % 2 == 0:  # a signed body reaches the notice parser with generated JSON
            headers.update({k: v for k, v in sign(target.webhook_secret, body).items() if k != "content-type"})
    coro = target.client.request(prepared.method or "GET", prepared.url or "/", headers=headers, content=body)
    return target.loop.run_until_complete(coro), prepared


def _check_problem(response: httpx.Response, where: str) -> None:
    if 400 <= response.status_code < 500:
        media = response.headers.get("content-type", "").split(";")[0].strip()
        assert media == PROBLEM_MEDIA_TYPE, f"{where}: a {response.status_code} answered as {media!r}"
        body = response.json()
        assert isinstance(body.get("code"), str) and body["code"], f"{where}: a problem without a code: {body}"


def _check_tenancy(response: httpx.Response, prepared: requests.PreparedRequest, target: Target, where: str) -> None:
    asked = f"{prepared.url} {prepared.headers} {prepared.body!r}"
    shown = response.text
    leaked = sorted(v for v in target.secret_values if v in shown and v not in asked)
    assert not leaked, f"{where}: another seller was shown the seeded seller's {leaked}: {shown[:500]}"


def _fuzz(case: Any, target: Target, caller: str) -> None:
    _aim_at_seeded_data(case, target)
    _authorise(case, target, caller)
    response, prepared = _send(case, target)
    where = f"{target.name} {case.method} {case.formatted_path} as {caller} -> {response.status_code}"
    if TRACE:
        print(where, response.text[:160])
    if response.status_code >= 500:
        assert (case.method, case.operation.path, response.status_code) in DOCUMENTED_5XX, (
            f"{where}: server error {response.text[:500]}"
        )
    case.validate_response(response, checks=CHECKS)
    _check_problem(response, where)
    if caller in ("other_seller", "stranger"):
        _check_tenancy(response, prepared, target, where)


def _fuzz_test(name: str) -> Any:
    """One test per operation of `name`'s document (schemathesis parametrises), on that service's target."""
    schema = schemathesis.openapi.from_dict(service_main(name).create_app().openapi())

    @schema.parametrize()
    @pytest.mark.parametrize("target", [name], indirect=True)
    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def test(case: Any, target: Target, caller: str) -> None:
        _fuzz(case, target, caller)

    test.__name__ = f"test_fuzz_{name}"
    return test


# services/ scanned: a new service (or new routes of notify and submit) is fuzzed without a change here.
for _name in service_names():
    globals()[f"test_fuzz_{_name}"] = _fuzz_test(_name)


def test_the_tenancy_check_catches_a_planted_leak():
    """The cross-tenant check is real: an answer naming the seeded dispute to a caller who did not ask for it fails."""
    target = Target("ingest", None, None, None, "s", {}, {"CD-FUZZA-000001"})  # type: ignore[arg-type]
    asked = requests.Request("GET", "http://service/v1/cases").prepare()
    leaking = httpx.Response(200, json={"items": [{"dispute_id": "CD-FUZZA-000001"}]})
    with pytest.raises(AssertionError, match="another seller was shown"):
        _check_tenancy(leaking, asked, target, "planted")
    named = requests.Request("GET", "http://service/v1/cases/CD-FUZZA-000001").prepare()
    _check_tenancy(httpx.Response(404, json={"dispute_id": "CD-FUZZA-000001"}), named, target, "echoed")
