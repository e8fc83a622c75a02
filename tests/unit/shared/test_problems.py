"""Every error a service answers is RFC 9457 problem+json with a stable `code`."""

from __future__ import annotations

import json

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, field_validator
from structlog.testing import capture_logs

from shared.errors import DomainError
from shared.web.middleware import RequestContextMiddleware
from shared.web.problems import (
    PROBLEM_MEDIA_TYPE,
    Problem,
    ProblemError,
    ProblemTable,
    install_problem_handlers,
    problem_for,
    problem_response,
)


class Meta(BaseModel):
    kind: str
    attempts: int


class Evidence(BaseModel):
    dispute_id: str
    meta: Meta

    @field_validator("dispute_id")
    @classmethod
    def looks_like_a_dispute_id(cls, value: str) -> str:
        if not value.startswith("CD-"):
            # pydantic keeps this exception object in the error's ctx: not JSON-serialisable.
            raise ValueError("dispute ids start with CD-")
        return value


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware)

    @app.get("/disputes/{dispute_id}")
    async def get_dispute(dispute_id: str) -> dict[str, str]:
        raise ProblemError(
            409,
            "deadline_passed",
            "Deadline passed",
            f"Dispute {dispute_id} can no longer be answered.",
            headers={"Retry-After": "0"},
            dispute_id=dispute_id,
        )

    @app.post("/evidence")
    async def post_evidence(evidence: Evidence) -> dict[str, str]:
        return {"dispute_id": evidence.dispute_id}

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418, detail="Short and stout.", headers={"X-Hint": "tea"})

    @app.get("/limited")
    async def limited() -> None:
        raise HTTPException(429, headers={"Retry-After": "30"})

    @app.get("/database-away")
    async def database_away() -> None:
        raise asyncpg.CannotConnectNowError("the database system is starting up")

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("db password hunter2 for buyer 010-1234-5678")

    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    # raise_app_exceptions=False: Starlette re-raises after answering 500, as servers expect.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://dispute-desk.test")


@pytest.fixture
async def client():
    async with _client(_app()) as c:
        yield c


def _problem(response: httpx.Response) -> dict:
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["status"] == response.status_code
    assert body["type"] == f"https://errors.dispute-desk.dev/{body['code']}"
    return body


async def test_problem_error_answers_problem_json_with_its_code_and_extensions(client):
    response = await client.get("/disputes/CD-2026-000123", headers={"x-request-id": "req-409"})
    assert response.status_code == 409
    assert response.headers["retry-after"] == "0"
    assert _problem(response) == {
        "type": "https://errors.dispute-desk.dev/deadline_passed",
        "title": "Deadline passed",
        "status": 409,
        "code": "deadline_passed",
        "detail": "Dispute CD-2026-000123 can no longer be answered.",
        "instance": "/disputes/CD-2026-000123",
        "request_id": "req-409",
        "dispute_id": "CD-2026-000123",
    }


async def test_unknown_route_is_404_not_found_problem(client):
    response = await client.get("/nowhere")
    assert response.status_code == 404
    body = _problem(response)
    assert body["code"] == "not_found"
    assert body["title"] == "Not Found"
    assert body["instance"] == "/nowhere"
    assert body["request_id"] == response.headers["x-request-id"]


async def test_wrong_method_is_405_problem_keeping_the_allow_header(client):
    response = await client.delete("/evidence")
    assert response.status_code == 405
    assert _problem(response)["code"] == "method_not_allowed"
    assert response.headers["allow"] == "POST"


async def test_http_exceptions_keep_their_detail_and_headers(client):
    teapot = await client.get("/teapot")
    assert teapot.status_code == 418
    assert teapot.headers["x-hint"] == "tea"
    body = _problem(teapot)
    assert body["code"] == "http_418"
    assert body["detail"] == "Short and stout."

    limited = await client.get("/limited")
    assert _problem(limited)["code"] == "rate_limited"
    assert limited.headers["retry-after"] == "30"


async def test_validation_error_lists_offending_fields_as_problem_json(client):
    response = await client.post("/evidence", json={"dispute_id": "X-1", "meta": {"attempts": "many"}})
    assert response.status_code == 422
    body = _problem(response)
    assert body["code"] == "validation_error"
    fields = {error["field"]: error for error in body["errors"]}
    assert set(fields) == {"body.dispute_id", "body.meta.kind", "body.meta.attempts"}
    assert fields["body.meta.kind"]["type"] == "missing"
    assert fields["body.meta.attempts"]["type"] == "int_parsing"
    assert "CD-" in fields["body.dispute_id"]["message"]
    # The submitted values are not echoed back (they may hold buyers' data).
    assert "many" not in response.text


async def test_malformed_json_body_is_a_validation_problem(client):
    response = await client.post("/evidence", content=b'{"dispute_id": ', headers={"content-type": "application/json"})
    assert response.status_code == 422
    body = _problem(response)
    assert body["errors"][0]["type"] == "json_invalid"
    assert body["errors"][0]["field"].startswith("body")


async def test_unhandled_exception_is_500_problem_without_details(client):
    with capture_logs() as logs:
        response = await client.get("/crash", headers={"x-request-id": "req-crash"})
    assert response.status_code == 500
    body = _problem(response)
    assert body["code"] == "internal_error"
    assert body["request_id"] == "req-crash"
    assert body["instance"] == "/crash"
    for leaked in ("RuntimeError", "hunter2", "010-1234-5678", "Traceback"):
        assert leaked not in response.text
    # Support can still find the log line from the ids on the response.
    assert response.headers["x-request-id"] == "req-crash"
    assert response.headers["traceparent"]
    [logged] = [entry for entry in logs if entry["event"] == "unhandled_exception"]
    assert logged["log_level"] == "error"
    assert logged["path"] == "/crash"
    assert isinstance(logged["exc_info"], RuntimeError)


def test_problem_response_builds_problem_json_without_unknown_members():
    response = problem_response(503, "portal_unavailable", "Portal unavailable", headers={"Retry-After": "5"})
    assert response.status_code == 503
    assert response.media_type == PROBLEM_MEDIA_TYPE
    assert response.headers["retry-after"] == "5"
    assert json.loads(response.body) == {
        "type": "https://errors.dispute-desk.dev/portal_unavailable",
        "title": "Portal unavailable",
        "status": 503,
        "code": "portal_unavailable",
    }


def test_extensions_cannot_override_standard_members():
    response = problem_response(400, "bad_request", "Bad Request", type="about:blank")
    body = json.loads(response.body)
    assert body["type"] == "https://errors.dispute-desk.dev/bad_request"


def test_problem_error_reads_well_in_logs():
    error = ProblemError(404, "not_found", "Not Found", "No dispute CD-1.")
    assert str(error) == "404 not_found: No dispute CD-1."
    assert error.headers == {}
    assert error.extensions == {}


# --------------------------------------------------------------------------- domain errors


class CaseNotFound(DomainError):
    code = "case_not_found"


class CaseClosed(DomainError):
    code = "case_closed"


class CaseAlreadyWon(CaseClosed):
    code = "case_already_won"


class ReceiptMissing(DomainError):
    code = "receipt_missing"


ERRORS: ProblemTable = {
    CaseNotFound: Problem(404, "case_not_found", "Case not found"),
    CaseClosed: Problem(409, "case_closed", "Case closed"),
}


def _domain_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app, ERRORS)
    app.add_middleware(RequestContextMiddleware)

    @app.get("/cases/{case_id}")
    async def get_case(case_id: str) -> None:
        raise CaseNotFound("No case with this id.", case_id=case_id)

    @app.post("/cases/{case_id}/answer")
    async def answer(case_id: str) -> None:
        raise CaseAlreadyWon()

    @app.post("/cases/{case_id}/submit")
    async def submit(case_id: str) -> None:
        raise ReceiptMissing("Upload the delivery receipt first.", missing=["receipt"])

    @app.post("/raw-evidence")
    async def raw_evidence(request: Request) -> dict[str, str]:
        # A body read raw (e.g. to check its signature), then parsed inside the route.
        evidence = Evidence.model_validate_json(await request.body())
        return {"dispute_id": evidence.dispute_id}

    return app


@pytest.fixture
async def domain_client():
    async with _client(_domain_app()) as c:
        yield c


async def test_domain_error_answers_the_problem_its_table_row_names(domain_client):
    response = await domain_client.get("/cases/CD-7", headers={"x-request-id": "req-404"})
    assert response.status_code == 404
    assert _problem(response) == {
        "type": "https://errors.dispute-desk.dev/case_not_found",
        "title": "Case not found",
        "status": 404,
        "code": "case_not_found",
        "detail": "No case with this id.",
        "instance": "/cases/CD-7",
        "request_id": "req-404",
        "case_id": "CD-7",
    }


async def test_table_row_of_a_base_class_covers_its_subclasses(domain_client):
    response = await domain_client.post("/cases/CD-7/answer")
    assert response.status_code == 409
    body = _problem(response)
    assert (body["code"], body["title"]) == ("case_closed", "Case closed")
    assert "detail" not in body


async def test_unmapped_domain_error_answers_422_with_its_own_code_and_is_logged(domain_client):
    with capture_logs() as logs:
        response = await domain_client.post("/cases/CD-7/submit")
    assert response.status_code == 422
    body = _problem(response)
    assert body["code"] == "receipt_missing"
    assert body["title"] == "Request refused"
    assert body["detail"] == "Upload the delivery receipt first."
    assert body["missing"] == ["receipt"]
    [logged] = [entry for entry in logs if entry["event"] == "unmapped_domain_error"]
    assert (logged["error_type"], logged["code"]) == ("ReceiptMissing", "receipt_missing")


async def test_validation_error_raised_inside_a_route_answers_422_like_a_request_validation_error(domain_client):
    response = await domain_client.post("/raw-evidence", content=b'{"dispute_id": "X-1", "meta": {"attempts": "many"}}')
    assert response.status_code == 422
    body = _problem(response)
    assert body["code"] == "validation_error"
    assert body["detail"] == "3 fields failed validation."
    fields = {error["field"]: error for error in body["errors"]}
    assert set(fields) == {"dispute_id", "meta.kind", "meta.attempts"}
    assert set(fields["meta.attempts"]) == {"field", "message", "type"}
    assert fields["meta.attempts"]["type"] == "int_parsing"
    assert "many" not in response.text and "X-1" not in response.text  # input values are not echoed


async def test_malformed_json_parsed_inside_a_route_answers_422(domain_client):
    response = await domain_client.post("/raw-evidence", content=b'{"dispute_id": ')
    assert response.status_code == 422
    assert _problem(response)["errors"][0]["type"] == "json_invalid"


async def test_domain_error_data_cannot_override_standard_members():
    app = FastAPI()
    install_problem_handlers(app, ERRORS)

    @app.get("/sneaky")
    async def sneaky() -> None:
        raise CaseNotFound(status=200, code="ok", instance="/elsewhere")

    async with _client(app) as client:
        response = await client.get("/sneaky")
    body = _problem(response)
    assert (response.status_code, body["code"], body["instance"]) == (404, "case_not_found", "/sneaky")


def test_problem_table_refuses_rows_that_are_not_domain_errors_or_problems():
    with pytest.raises(TypeError):
        install_problem_handlers(FastAPI(), {ValueError: Problem(400, "bad", "Bad")})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        install_problem_handlers(FastAPI(), {CaseNotFound: (404, "case_not_found", "Case not found")})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        Problem(200, "ok", "OK")


def test_domain_error_carries_its_code_detail_and_data_without_speaking_http():
    error = CaseNotFound("No case with this id.", case_id="CD-7")
    assert (error.code, error.detail, error.data) == ("case_not_found", "No case with this id.", {"case_id": "CD-7"})
    assert str(error) == "No case with this id."
    assert str(CaseAlreadyWon()) == "case_already_won"
    assert problem_for(ERRORS, CaseAlreadyWon()) == ERRORS[CaseClosed]
    assert problem_for(ERRORS, ReceiptMissing()) is None


async def test_a_database_that_cannot_be_reached_is_503_with_retry_after_not_500(client):
    with capture_logs() as logs:
        response = await client.get("/database-away")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert _problem(response)["code"] == "database_unavailable"
    assert [entry["event"] for entry in logs] == ["database_unavailable"]  # a warning, no traceback
