"""Buyer risk: one buyer's disputes with one seller in a window, and a note that states facts.

The rule is data (`RiskRule`: how many disputes in how many days is abnormal). The note is
meant to be attached to a dispute answer as it is, so it names dates, order ids, reasons and
outcomes, and accuses no one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

KST = ZoneInfo("Asia/Seoul")


@dataclass(frozen=True)
class RiskRule:
    window_days: int = 90
    min_disputes: int = 3  # this many or more in the window is abnormal

    def __post_init__(self) -> None:
        if self.window_days < 1 or self.min_disputes < 2:
            raise ValueError("a risk rule needs window_days >= 1 and min_disputes >= 2")


@dataclass(frozen=True)
class BuyerDispute:
    dispute_id: str
    order_id: str
    reason_code: str
    notified_at: datetime  # aware
    status: str


@dataclass(frozen=True)
class BuyerRisk:
    buyer_id: str
    rule: RiskRule
    window_start: datetime
    window_end: datetime
    disputes: tuple[BuyerDispute, ...]
    reasons: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    abnormal: bool = False
    note_ko: str | None = None
    note_zh: str | None = None

    @property
    def count(self) -> int:
        return len(self.disputes)


_REASON_KO = {
    "NOT_RECEIVED": "상품 미수령",
    "NOT_AS_DESCRIBED": "상품 설명과 다름",
    "DAMAGED": "상품 파손",
    "DUPLICATE_CHARGE": "중복 결제",
    "UNAUTHORIZED": "승인되지 않은 결제",
    "CREDIT_NOT_PROCESSED": "환불 미처리",
    "OTHER": "기타",
}
_REASON_ZH = {
    "NOT_RECEIVED": "未收到商品",
    "NOT_AS_DESCRIBED": "商品与描述不符",
    "DAMAGED": "商品损坏",
    "DUPLICATE_CHARGE": "重复扣款",
    "UNAUTHORIZED": "未经授权的交易",
    "CREDIT_NOT_PROCESSED": "退款未处理",
    "OTHER": "其他",
}
_STATUS_KO = {"won": "판매자 승소", "lost": "구매자 승소", "partial": "일부 인용", "accepted": "판매자 수용"}
_STATUS_ZH = {"won": "卖家胜诉", "lost": "买家胜诉", "partial": "部分支持", "accepted": "卖家接受"}


def assess(buyer_id: str, disputes: Iterable[BuyerDispute], rule: RiskRule, *, now: datetime) -> BuyerRisk:
    """The buyer's disputes within `rule.window_days` before `now`, flagged when abnormal."""
    start = now - timedelta(days=rule.window_days)
    within = tuple(sorted((d for d in disputes if start <= d.notified_at <= now), key=lambda d: d.notified_at))
    abnormal = len(within) >= rule.min_disputes
    return BuyerRisk(
        buyer_id=buyer_id,
        rule=rule,
        window_start=start,
        window_end=now,
        disputes=within,
        reasons=dict(Counter(d.reason_code for d in within)),
        outcomes=dict(Counter(d.status for d in within)),
        abnormal=abnormal,
        note_ko=_note_ko(buyer_id, within, rule) if abnormal else None,
        note_zh=_note_zh(buyer_id, within, rule) if abnormal else None,
    )


def _day(moment: datetime) -> str:
    return moment.astimezone(KST).date().isoformat()


def _note_ko(buyer_id: str, disputes: tuple[BuyerDispute, ...], rule: RiskRule) -> str:
    lines = [
        f"구매자 {buyer_id}의 최근 {rule.window_days}일간 당사 주문 관련 분쟁 제기 내역은 {len(disputes)}건입니다"
        f" ({_day(disputes[0].notified_at)} ~ {_day(disputes[-1].notified_at)}, 한국 시간 기준)."
    ]
    for d in disputes:
        reason, outcome = _REASON_KO.get(d.reason_code, d.reason_code), _STATUS_KO.get(d.status, "진행 중")
        lines.append(f"- {_day(d.notified_at)} 주문번호 {d.order_id}: {reason}, {outcome}")
    lines.append("위 내용은 기록된 사실이며, 본 건 검토 시 참고하여 주시기 바랍니다.")
    return "\n".join(lines)


def _note_zh(buyer_id: str, disputes: tuple[BuyerDispute, ...], rule: RiskRule) -> str:
    lines = [
        f"买家 {buyer_id} 在最近 {rule.window_days} 天内就本店订单共提出 {len(disputes)} 起争议"
        f"（{_day(disputes[0].notified_at)} 至 {_day(disputes[-1].notified_at)}，韩国时间）。"
    ]
    for d in disputes:
        reason, outcome = _REASON_ZH.get(d.reason_code, d.reason_code), _STATUS_ZH.get(d.status, "处理中")
        lines.append(f"- {_day(d.notified_at)} 订单号 {d.order_id}：{reason}，{outcome}")
    lines.append("以上为记录在案的事实，供审核本案时参考。")
    return "\n".join(lines)
