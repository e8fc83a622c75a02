from datetime import UTC, datetime, timedelta

import pytest

from services.ingest.domain.risk import BuyerDispute, RiskRule, assess

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def dispute(n: int, days_ago: int, status: str = "won", reason: str = "NOT_RECEIVED") -> BuyerDispute:
    return BuyerDispute(f"CD-{n}", f"30009{n:05d}", reason, NOW - timedelta(days=days_ago), status)


def test_three_disputes_in_ninety_days_are_abnormal_with_a_factual_note_in_korean_and_chinese():
    risk = assess("B-77", [dispute(1, 80), dispute(2, 40, "lost"), dispute(3, 2, "received")], RiskRule(), now=NOW)
    assert risk.abnormal and risk.count == 3
    assert risk.reasons == {"NOT_RECEIVED": 3}
    assert risk.outcomes == {"won": 1, "lost": 1, "received": 1}
    for order_id in ("3000900001", "3000900002", "3000900003"):
        assert order_id in risk.note_ko and order_id in risk.note_zh
    assert "2026-09-07" in risk.note_ko and "2026-09-07" in risk.note_zh  # 80 days before, in KST
    assert "판매자 승소" in risk.note_ko and "买家胜诉" in risk.note_zh
    for accusation in ("사기", "악의", "欺诈", "恶意", "fraud"):
        assert accusation not in risk.note_ko + risk.note_zh


def test_disputes_outside_the_window_do_not_count():
    risk = assess("B-77", [dispute(1, 200), dispute(2, 95), dispute(3, 2)], RiskRule(), now=NOW)
    assert not risk.abnormal and risk.count == 1 and risk.note_ko is None and risk.note_zh is None


def test_the_rule_is_configurable():
    risk = assess("B-1", [dispute(1, 10), dispute(2, 5)], RiskRule(window_days=30, min_disputes=2), now=NOW)
    assert risk.abnormal


def test_a_rule_that_flags_every_buyer_is_refused():
    with pytest.raises(ValueError):
        RiskRule(min_disputes=1)
