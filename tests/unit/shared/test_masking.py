"""Personal data never reaches a log line: allowlist of keys first, free-text masking second.

Each example of issue 6 (item 7) is logged for real through `configure_logging` and the
emitted JSON line is searched for the personal datum, while ids, codes and counts survive.
"""

from __future__ import annotations

import enum
import json
import logging
import time
import timeit
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from shared import log_policy
from shared.logging import allow_log_keys, configure_logging
from shared.masking import MASKED, mask_text, safe_validation_errors

DISPUTE = "CD-2026-000123"
ORDER = "3000555000999"


@pytest.fixture
def emit(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Log one line with `log.warning(event, **fields)`; return it parsed and as raw text."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    configure_logging("evidence", "DEBUG")
    capsys.readouterr()

    def log_one(event: str, **fields: Any) -> tuple[dict[str, Any], str]:
        structlog.get_logger("test").warning(event, **fields)
        out = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
        assert len(out) == 1, out
        return json.loads(out[0]), out[0]

    yield log_one
    log_policy._extra_safe.clear()
    log_policy.key_policy.cache_clear()
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    structlog.reset_defaults()


def _assert_kept_ids(line: dict[str, Any]) -> None:
    assert line["dispute_id"] == DISPUTE
    assert line["order_id"] == ORDER
    assert line["count"] == 3
    assert line["reason_code"] == "NOT_RECEIVED"


def _log_with_ids(emit: Any, event: str, **fields: Any) -> tuple[dict[str, Any], str]:
    line, raw = emit(event, dispute_id=DISPUTE, order_id=ORDER, count=3, reason_code="NOT_RECEIVED", **fields)
    _assert_kept_ids(line)
    return line, raw


# --------------------------------------------------------------------------- allowlist


def test_unknown_key_with_a_string_value_is_masked_but_its_numbers_are_kept(emit):
    line, raw = _log_with_ids(emit, "note_added", memo="김민수 says hello", retries_left=2, urgent=True)
    assert line["memo"] == MASKED
    assert line["retries_left"] == 2
    assert line["urgent"] is True
    assert "김민수" not in raw and "hello" not in raw


def test_unknown_nested_values_are_masked_but_safe_keys_inside_them_show(emit):
    line, raw = _log_with_ids(
        emit,
        "payload_seen",
        payload={"notice_id": "N-1", "memo": "문 앞에 놔주세요", "items": [{"qty": 2, "opt": "red"}]},
    )
    assert line["payload"] == {"notice_id": "N-1", "memo": MASKED, "items": [{"qty": 2, "opt": MASKED}]}
    assert "문 앞" not in raw


def test_keys_the_code_logs_today_are_kept(emit):
    line, _ = emit(
        "event_dead_lettered",
        group="evidence",
        topic="dispute.case-received.v1",
        partition=2,
        offset=41,
        attempts=5,
        size=10,
        port=8003,
        part="relay",
        retry_in_s=1.5,
        method="POST",
        path="/v1/disputes",
        error_type="KeyError",
        seller_id="V-TEST",
        evidence_id="EV-1",
        notice_id="N-1",
        receipt_id="R-1",
        status="submitted",
        duration_ms=12.5,
        sent_at="2026-09-23T10:15:00Z",
    )
    assert line["topic"] == "dispute.case-received.v1"
    assert line["part"] == "relay"
    assert line["method"] == "POST" and line["path"] == "/v1/disputes"
    assert line["error_type"] == "KeyError"
    assert line["status"] == "submitted"
    assert line["evidence_id"] == "EV-1" and line["notice_id"] == "N-1" and line["receipt_id"] == "R-1"
    assert line["sent_at"] == "2026-09-23T10:15:00Z"


def test_unknown_keys_nested_in_free_text_or_safe_keys_are_masked_too(emit):
    line, raw = emit("odd_error", error={"code": "E1", "memo": "김민수 문앞"}, topics=["a.v1", "b.v1"])
    assert line["error"] == {"code": "E1", "memo": MASKED}
    assert line["topics"] == ["a.v1", "b.v1"]
    assert "김민수" not in raw


def test_enums_are_codes_and_are_kept_under_any_key(emit):
    class Outcome(enum.StrEnum):
        WON = "won"

    line, _ = emit("dispute_closed", verdict=Outcome.WON)
    assert line["verdict"] == "won"


def test_a_service_can_declare_more_keys_safe(emit):
    allow_log_keys("carrier")
    line, _ = emit("waybill_checked", carrier="CJ대한통운", courier_note="leave at door")
    assert line["carrier"] == "CJ대한통운"
    assert line["courier_note"] == MASKED


def test_configure_logging_takes_safe_keys_too(emit):
    configure_logging("evidence", "DEBUG", safe_keys=["template"])
    line, _ = emit("letter_rendered", template="not_received_v2")
    assert line["template"] == "not_received_v2"


def test_a_constant_event_name_survives_and_data_in_an_event_is_masked(emit):
    line, _ = _log_with_ids(emit, "dispute_received")
    assert line["event"] == "dispute_received"
    line, raw = emit("call 김민수 고객님 at 010-1234-5678")
    assert "김민수" not in raw and "1234-5678" not in raw


def test_error_repr_with_a_name_inside_keeps_the_exception_type_readable(emit):
    line, raw = _log_with_ids(emit, "event_handler_failed", error=repr(KeyError("recipient_name: 王小明")))
    assert line["error"].startswith("KeyError(")
    assert "recipient_name" in line["error"]
    assert "王小明" not in raw


def test_an_exception_object_is_logged_as_type_and_masked_message(emit):
    line, raw = _log_with_ids(emit, "portal_call_failed", error=ValueError("buyer 김민수 unreachable"))
    assert line["error"].startswith("ValueError: buyer ")
    assert "김민수" not in raw


# --------------------------------------------------------------------------- issue 6 examples


@pytest.mark.parametrize(
    ("field", "value", "leaked"),
    [
        ("detail", "환불 요청: 김민수 고객님 연락 안 됨", ["김민수"]),
        ("detail", "buyer John Smith asked for a refund", ["John", "Smith"]),
        ("detail", "王小明先生 did not answer", ["王小明"]),
        ("error", repr({"buyer": "김민수", "order_id": ORDER}), ["김민수"]),
        ("error", repr(KeyError("recipient_name: 王小明")), ["王小明"]),
        ("detail", "ship to 浙江省杭州市西湖区文三路 90 号", ["文三路", "90 号"]),
        ("detail", "浙江省杭州市西湖区文三路90号3幢201室, call later", ["文三路", "201室"]),
        ("detail", "deliver to 123 Teheran-ro, Gangnam-gu, Seoul 06236", ["Teheran", "06236"]),
        ("detail", "Gangnam-daero 94-gil 45, Seocho-gu", ["Gangnam-daero", "94-gil"]),
        ("error", "bad row buyer=김민수", ["김민수"]),
        ("error", "{'recipient': 'Jane Doe'}", ["Jane", "Doe"]),
        ("error", "consignee: 王小明", ["王小明"]),
        ("error", "收件人：王小明，电话：13812345678", ["王小明", "12345678"]),
        ("error", "收件人王小明", ["王小明"]),
        ("error", "hp=01012345678", ["12345678"]),
        ("error", "ship_to=Yeoksam-dong 123-4", ["Yeoksam", "123-4"]),
        ("detail", "tel010-1234-5678", ["1234-5678"]),
        ("detail", "phone 010\u20131234\u20135678", ["1234\u20135678", "1234"]),
        ("detail", "전화 ０１０-１２３４-５６７８", ["１２３４", "1234"]),
        ("detail", "주민번호 900101- 1234567", ["900101", "1234567"]),
        ("detail", "身份证 11010519491231002X", ["11010519491231002X", "19491231"]),
        ("detail", "id 440300199001011238 on file", ["440300199001011238"]),
        ("detail", json.dumps({"note": "김민수 고객님 010-1234-5678"}), ["\\uae40", "김민수", "1234-5678"]),
        ("error", repr("수령인: 김민수 010-1234-5678".encode()), ["\\xea\\xb9\\x80", "김민수", "1234-5678"]),
    ],
)
def test_personal_data_in_free_text_never_reaches_the_line(emit, field: str, value: str, leaked: list[str]):
    line, raw = _log_with_ids(emit, "something_failed", **{field: value})
    for datum in leaked:
        assert datum not in raw, (datum, raw)
        assert datum not in line[field]


@pytest.mark.parametrize(
    ("key", "value", "leaked"),
    [
        ("buyer", "김민수", "김민수"),
        ("recipient", "John Smith", "Smith"),
        ("consignee", "王小明", "王小明"),
        ("收件人", "王小明", "王小明"),
        ("hp", "010-1234-5678", "1234-5678"),
        ("ship_to", "浙江省杭州市西湖区文三路 90 号", "文三路"),
        ("ship_to", {"line1": "123 Teheran-ro", "zip": "06236"}, "Teheran"),
        ("buyer", {"buyer_id": "B-77", "name": "김민수", "phone": "01012345678"}, "김민수"),
    ],
)
def test_personal_keys_are_masked(emit, key: str, value: Any, leaked: str):
    line, raw = _log_with_ids(emit, "buyer_seen", **{key: value})
    assert leaked not in raw
    assert key in line


def test_postgres_errors_lose_the_values_they_echo_but_keep_ids():
    unique = 'violates unique constraint "uq_buyer" DETAIL:  Key (buyer_name, city)=(김민수, 서울) already exists.'
    assert mask_text(unique).endswith("Key (buyer_name, city)=([masked]) already exists.")
    row = 'null value in column "x" violates not-null constraint DETAIL:  Failing row contains (7, 김민수, 문앞).'
    assert mask_text(row).endswith("Failing row contains ([masked]).")
    ids = "DETAIL:  Key (event_id, consumer_group)=(550e8400-e29b-41d4-a716-446655440000, evidence) already exists."
    assert mask_text(ids) == ids


def test_an_18_digit_id_of_ours_that_fails_the_checksum_is_kept(emit):
    line, _ = emit("snowflake_seen", detail="row 110105194912310021 moved")
    assert line["detail"] == "row 110105194912310021 moved"


def test_romanised_district_alone_is_not_an_address():
    assert mask_text("warehouse in Gangnam-gu, Seoul") == "warehouse in Gangnam-gu, Seoul"
    assert mask_text("buyer requested refund") == "buyer requested refund"


# --------------------------------------------------------------------------- validation errors


# Module-level, so the traceback's source lines (which name it) do not show its contents.
_BAD_PAYLOAD = {"phone": "김민수 010-1234-5678", "name": {"first": "王小明"}}


class _Buyer(BaseModel):
    phone: int
    name: str


def _validation_error() -> ValidationError:
    try:
        _Buyer.model_validate(_BAD_PAYLOAD)
    except ValidationError as exc:
        return exc
    raise AssertionError("expected a ValidationError")


def test_validation_error_traceback_loses_its_input_values(emit):
    try:
        raise _validation_error()
    except ValidationError:
        line, raw = _log_with_ids(emit, "request_invalid", exc_info=True)
    assert "ValidationError" in line["exception"]
    assert "int_parsing" in line["exception"]
    for datum in ("김민수", "王小明", "1234-5678"):
        assert datum not in raw


def test_stdlib_logger_with_a_validation_error_loses_its_input_values(emit, capsys):
    try:
        raise _validation_error()
    except ValidationError:
        logging.getLogger("uvicorn.error").exception("request failed")
    raw = capsys.readouterr().out
    assert "ValidationError" in raw and "int_parsing" in raw
    assert "王小明" not in raw and "김민수" not in raw


def test_error_caused_by_a_validation_error_loses_its_input_values(emit):
    try:
        try:
            raise _validation_error()
        except ValidationError as exc:
            raise RuntimeError("payload rejected") from exc
    except RuntimeError:
        line, raw = emit("payload_rejected", exc_info=True)
    assert "RuntimeError: payload rejected" in line["exception"]
    assert "王小明" not in raw and "김민수" not in raw


def test_validation_error_as_a_value_and_its_errors_lose_their_inputs(emit):
    exc = _validation_error()
    line, raw = _log_with_ids(emit, "request_invalid", error=exc, errors=exc.errors())
    assert line["error"].startswith("ValidationError: 2 validation error(s)")
    assert [error["type"] for error in line["errors"]] == ["int_parsing", "string_type"]
    for datum in ("김민수", "王小明", "1234-5678"):
        assert datum not in raw


def test_request_validation_error_and_its_repr_lose_their_inputs(emit):
    exc = RequestValidationError(
        [{"type": "missing", "loc": ("body", "buyer"), "msg": "Field required", "input": {"name": "김민수"}}],
        body={"name": "김민수"},
    )
    line, raw = emit("request_invalid", error=exc, detail=repr(exc), errors_text=str(exc.errors()))
    assert line["error"].startswith("RequestValidationError: 1 validation error(s)")
    assert "김민수" not in raw


def test_validation_processor_alone_replaces_the_error_text_in_a_traceback():
    exc = _validation_error()
    event = log_policy.strip_validation_exc_info(None, "error", {"event": "x", "exc_info": exc})
    assert "exc_info" not in event
    assert "2 validation error(s)" in event["exception"]
    assert "input_value" not in event["exception"] and "王小明" not in event["exception"]


def test_text_masker_alone_strips_pydantic_and_fastapi_input_echoes():
    assert "김민수" not in mask_text(str(_validation_error()))
    assert "王小明" not in mask_text(str(_validation_error().errors()))
    nested = "[{'type': 'missing', 'loc': ('body',), 'msg': 'x', 'input': {'a': {'b': '김민수'}}}]"
    assert mask_text(nested) == "[{'type': 'missing', 'loc': ('body',), 'msg': 'x', 'input': '[masked]'}]"


def test_safe_validation_errors_keeps_type_loc_and_msg_only():
    errors = safe_validation_errors(_validation_error().errors())
    assert errors == [
        {
            "type": "int_parsing",
            "loc": ["phone"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
        },
        {"type": "string_type", "loc": ["name"], "msg": "Input should be a valid string"},
    ]


# --------------------------------------------------------------------------- cost


def test_masking_a_typical_line_stays_cheap():
    # The processors run on every line; a generous bound that still catches a blow-up.
    text = "event_handler_failed KeyError('order 3000123456789 for CD-2026-000123 not found')"
    per_call = min(timeit.repeat(lambda: mask_text(text), number=200, repeat=3)) / 200
    assert per_call < 0.001, per_call


@pytest.mark.parametrize(
    "hostile",
    [
        "杭州市西湖区" * 1000,
        "浙江省" * 2000,
        "文三路 9" * 1500,
        "a-" * 3000 + "ro",
        "1 a-b-c-d" * 1000,
        "buyer " * 2000,
        "name='" * 2000,
        "\\u0041" * 3000,
        "b'\\x" * 2000,
        "input_value=" * 1000 + ", input_type=",
        "'input': " * 1000,
        "收件人" * 2000,
        "900101- " * 1500,
        "a" * 10000,
    ],
)
def test_masking_hostile_text_of_the_new_patterns_takes_linear_time(hostile: str):
    started = time.perf_counter()
    mask_text(hostile)
    assert time.perf_counter() - started < 0.5
