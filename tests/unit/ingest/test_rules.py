from decimal import Decimal

from services.ingest.domain.rules import AutoAcceptRule, AutoAction


def test_a_dispute_below_the_threshold_gets_the_rules_action():
    rule = AutoAcceptRule(below=Decimal("10000"), currency="KRW")
    assert rule.action_for(Decimal("9999"), "KRW") is AutoAction.accept
    assert AutoAcceptRule(Decimal("10000"), "KRW", AutoAction.flag).action_for(Decimal("500"), "KRW") is AutoAction.flag


def test_the_threshold_itself_and_above_are_left_alone():
    rule = AutoAcceptRule(below=Decimal("10000"), currency="KRW")
    assert rule.action_for(Decimal("10000"), "KRW") is None
    assert rule.action_for(Decimal("10000.01"), "KRW") is None


def test_another_currency_is_never_auto_accepted():
    assert AutoAcceptRule(below=Decimal("100"), currency="CNY").action_for(Decimal("1"), "KRW") is None
