"""JSON log lines on stdout, with buyers' personal data masked whoever logs it."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
import structlog
from pydantic import BaseModel

from shared import log_policy
from shared.logging import allow_log_keys, configure_logging
from shared.masking import mask_text, mask_value
from shared.tracing import trace_scope

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def json_lines(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Configure logging for a test service; call the fixture value to read the lines so far."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    configure_logging("ingest", "DEBUG")

    def read() -> list[dict[str, Any]]:
        out = capsys.readouterr().out
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    yield read
    log_policy._extra_safe.clear()  # allow_log_keys of a test must not leak into the next
    log_policy.key_policy.cache_clear()
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    structlog.reset_defaults()


def _only(lines: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(lines) == 1, lines
    return lines[0]


# --------------------------------------------------------------------------- log lines


def test_log_line_is_one_json_object_with_timestamp_level_service_event(json_lines):
    structlog.get_logger("ingest.webhook").info("dispute_received", dispute_id="CD-2026-000123")
    line = _only(json_lines())
    assert line["event"] == "dispute_received"
    assert line["level"] == "info"
    assert line["service"] == "ingest"
    assert line["dispute_id"] == "CD-2026-000123"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", line["timestamp"])


def test_trace_request_and_dispute_ids_bound_in_context_appear_on_each_line(json_lines):
    with trace_scope(PARENT, "req-1"), structlog.contextvars.bound_contextvars(dispute_id="CD-2026-000123"):
        structlog.get_logger().info("deadline_scheduled")
    line = _only(json_lines())
    assert line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert line["request_id"] == "req-1"
    assert line["dispute_id"] == "CD-2026-000123"


def test_stdlib_loggers_such_as_uvicorn_write_json_too(json_lines):
    with trace_scope(PARENT, "req-2"):
        logging.getLogger("uvicorn.error").warning("buyer %s called from %s", "김철수", "010-1234-5678")
    line = _only(json_lines())
    assert line["event"] == "buyer 김** called from 010-****-5678"
    assert line["level"] == "warning"
    assert line["logger"] == "uvicorn.error"
    assert line["service"] == "ingest"
    assert line["request_id"] == "req-2"


def test_configuring_twice_does_not_duplicate_lines(json_lines):
    configure_logging("ingest", "DEBUG")
    configure_logging("evidence", "INFO")
    structlog.get_logger().info("evidence_collected")
    # Not aiokafka: the runtime turns its loggers down to WARNING for the whole process.
    logging.getLogger("some.library").info("consumer started")
    lines = json_lines()
    assert [line["event"] for line in lines] == ["evidence_collected", "consumer started"]
    assert {line["service"] for line in lines} == {"evidence"}


def test_level_filters_out_quieter_lines(json_lines):
    configure_logging("ingest", "WARNING")
    structlog.get_logger().info("too_chatty")
    logging.getLogger("sqlalchemy.engine").info("SELECT 1")
    structlog.get_logger().warning("portal_slow")
    assert [line["event"] for line in json_lines()] == ["portal_slow"]


def test_korean_phone_and_rrn_are_masked_in_logs(json_lines):
    structlog.get_logger().info(
        "buyer_contacted",
        phone="010-1234-5678",
        detail="구매자 연락처 01098765432, 주민번호 900101-1234567 확인",
    )
    line = _only(json_lines())
    assert line["phone"] == "010-****-5678"
    assert line["detail"] == "구매자 연락처 010****5432, 주민번호 ******-******* 확인"
    raw = json.dumps(line, ensure_ascii=False)
    for leaked in ("1234-5678", "98765432", "900101", "1234567"):
        assert leaked not in raw


def test_buyer_name_address_and_email_keys_are_masked_even_when_nested(json_lines):
    structlog.get_logger().info(
        "shipment_loaded",
        shipment={
            "recipient_name": "김철수",
            "recipient": {"Name": "이영희", "Address": "서울특별시 강남구 테헤란로 123, 4층 401호"},
            "contacts": [{"email": "buyer.kim@example.com"}, "+82 10-2222-3333"],
        },
        buyerName="박민수",
    )
    line = _only(json_lines())
    assert line["shipment"] == {
        "recipient_name": "김**",
        "recipient": {"Name": "이**", "Address": "[address]"},
        "contacts": [{"email": "b***@example.com"}, "+82 10-****-3333"],
    }
    assert line["buyerName"] == "박**"


def test_personal_data_in_an_exception_traceback_is_masked(json_lines):
    try:
        raise ValueError("cannot reach buyer at 010-1234-5678")
    except ValueError:
        structlog.get_logger().exception("portal_call_failed")
    line = _only(json_lines())
    assert "ValueError: cannot reach buyer at 010-****-5678" in line["exception"]
    assert "1234-5678" not in line["exception"]


def test_dispute_and_order_ids_are_not_masked(json_lines):
    allow_log_keys("product_name", "summary")
    structlog.get_logger().info(
        "order_matched",
        dispute_id="CD-2026-000123",
        order_id="3000123456789",
        amount=45000,
        notified_at="2026-09-23T10:15:00+09:00",
        event_id="550e8400-e29b-41d4-a716-446655440000",
        seller_id="V-TEST",
        product_name="무선 이어폰",
        summary="order 3000123456789 of CD-2026-000123 due 2026-09-30T23:59:59Z",
    )
    line = _only(json_lines())
    assert line["dispute_id"] == "CD-2026-000123"
    assert line["order_id"] == "3000123456789"
    assert line["amount"] == 45000
    assert line["notified_at"] == "2026-09-23T10:15:00+09:00"
    assert line["event_id"] == "550e8400-e29b-41d4-a716-446655440000"
    assert line["seller_id"] == "V-TEST"
    assert line["product_name"] == "무선 이어폰"
    assert line["summary"] == "order 3000123456789 of CD-2026-000123 due 2026-09-30T23:59:59Z"


def test_models_and_dataclasses_are_logged_as_masked_json(json_lines):
    class Buyer(BaseModel):
        buyer_id: str
        buyer_name: str
        phone: str

    @dataclass
    class Recipient:
        name: str
        address: str

    structlog.get_logger().info(
        "payload",
        buyer=Buyer(buyer_id="B-77", buyer_name="김철수", phone="01012345678"),
        recipient=Recipient(name="이영희", address="부산광역시 해운대구 센텀중앙로 79"),
        event_uuid=UUID("550e8400-e29b-41d4-a716-446655440000"),
    )
    line = _only(json_lines())
    assert line["buyer"] == {"buyer_id": "B-77", "buyer_name": "김**", "phone": "010****5678"}
    assert line["recipient"] == {"name": "이**", "address": "[address]"}
    assert line["event_uuid"] == "550e8400-e29b-41d4-a716-446655440000"


# --------------------------------------------------------------------------- mask_text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("010-1234-5678", "010-****-5678"),
        ("01012345678", "010****5678"),
        ("010 1234 5678", "010 **** 5678"),
        ("+82 10-1234-5678", "+82 10-****-5678"),
        ("+82-10-1234-5678", "+82-10-****-5678"),
        ("연락처:011-123-4567", "연락처:011-***-4567"),
        ("02-123-4567", "02-***-4567"),
        ("031-1234-5678", "031-****-5678"),
        ("13812345678", "138****5678"),
        ("+86 138 1234 5678", "+86 138 **** 5678"),
        ("+86-13912345678", "+86-139****5678"),
        ("900101-1234567", "******-*******"),
        ("020304-4123456", "******-*******"),
        ("buyer.kim+cb@example.co.kr", "b***@example.co.kr"),
        ("01012345678@naver.com", "0***@naver.com"),
        ("서울특별시 강남구 테헤란로 123, 4층 401호", "[address]"),
        ("배송지: 서울시 강남구 테헤란로 123 (역삼동)", "배송지: [address]"),
        ("강남대로94길 45", "[address]"),
        ("성수이로7길 12-3, 101동 1001호 문 앞", "[address] 문 앞"),
        ("경기도 성남시 분당구 정자동 178-1", "[address]"),
        ("역삼동 123-4", "[address]"),
        ("충청남도 예산군 신암면 신택리 45번지", "[address]"),
        ("서울특별시 중구 을지로3가 12-3", "[address]"),
    ],
)
def test_personal_data_in_free_text_is_masked(text: str, masked: str):
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "CD-2026-000123",
        "3000123456789",
        "order 3000123456789 for seller V-TEST",
        "45000",
        "45,000.00 KRW",
        "2026-09-23T10:15:00+09:00",
        "2026-09-23T01:15:00.123456Z",
        "550e8400-e29b-41d4-a716-446655440000",
        "1758590100000",  # epoch millis
        "9001011234567",  # 13 bare digits is an order id, not an RRN
        "900101-9234567",  # 9 is no RRN gender/century digit
        "상태로 3건 변경",
        "기한 7일 남음",
        "서울특별시 강남구",  # a district is not an address
        "reason_code NOT_RECEIVED 13.1",
        "v1.2.3",
    ],
)
def test_ids_amounts_and_timestamps_are_left_alone(text: str):
    assert mask_text(text) == text


def test_mask_value_masks_by_key_meaning():
    assert mask_value("buyer_name", "김철수") == "김**"
    assert mask_value("RecipientName", "John Smith") == "J**"
    assert mask_value("phone", "010-1234-5678") == "010-****-5678"
    assert mask_value("receiver_phone", "+1 415 555 0100") == "+* *** *** 0100"
    assert mask_value("phone", 1012345678) == "******5678"
    assert mask_value("address", {"line1": "1 Main St", "zip": "06236"}) == "[address]"
    assert mask_value("zipcode", "06236") == "[address]"
    assert mask_value("email", "kim@example.com") == "k***@example.com"
    assert mask_value("contact", "010-1111-2222") == "010-****-2222"
    assert mask_value("contact", "박영희") == "박**"
    assert mask_value("rrn", "900101-1234567") == "******-*******"
    assert mask_value("auth_secret", "dev-only-secret") == "[redacted]"
    assert mask_value("authorization", "Bearer eyJ...") == "[redacted]"


def test_mask_value_leaves_non_personal_keys_and_values_alone():
    assert mask_value("product_name", "무선 이어폰") == "무선 이어폰"
    assert mask_value("logger", "shared.kafka.consumer") == "shared.kafka.consumer"
    assert mask_value("amount", 13812345678) == 13812345678
    assert mask_value("phone_verified", True) is True
    assert mask_value("buyer_name", None) is None
    assert mask_value("ip_address", "10.0.0.1") == "10.0.0.1"


def test_masking_hostile_text_takes_linear_time():
    # Dispute reasons come from buyers; a crafted one must not stall the logger.
    for hostile in ("서울시 " * 2000, "x@" + "a." * 5000 + "!", "010-" * 3000, "역삼동 1-" * 2000):
        started = time.perf_counter()
        mask_text(hostile)
        assert time.perf_counter() - started < 0.5
