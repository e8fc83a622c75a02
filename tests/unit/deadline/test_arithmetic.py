"""The deadline clock against the real 2024–2027 Korean calendar (holidays' KR, pinned), worked out by hand.

Each computed case names the notice's KST weekday and the days skipped, so a change of the
package or of the rule shows up as a readable diff, not a silent shift of a seller's deadline.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import holidays
import pytest

from services.deadline.domain import (
    BEIJING,
    DEFAULT_REMINDER_OFFSETS,
    KST,
    BusinessCalendar,
    DeadlineError,
    InvalidDuration,
    InvalidOverride,
    InvalidOverrideDate,
    NaiveTimestamp,
    Override,
    OverrideState,
    RespondByBeforeNotice,
    SkipReason,
    UnknownDisputeKind,
    chinese_name,
    compute_deadline,
    parse_duration,
    parse_override,
    parse_override_date,
    reminder_times,
    seconds_left,
    show_times,
)

N = {"platform_dispute": 3, "chargeback": 5}
H, W, OVR = SkipReason.HOLIDAY, SkipReason.WEEKEND, SkipReason.OVERRIDE


@pytest.fixture(scope="module")
def calendar() -> BusinessCalendar:
    return BusinessCalendar()


def kst(*args: int) -> datetime:
    return datetime(*args, tzinfo=KST)


def deadline(notified_at: datetime, kind: str, calendar: BusinessCalendar, **kwargs):
    return compute_deadline(notified_at, kind, calendar=calendar, business_days=N, **kwargs)


# (notice, kind, due date in KST, the days skipped on the way as (date, reason)); one case a paragraph.
# fmt: off
COMPUTED = {
    # Weekends
    "mon_platform_no_weekend": (kst(2026, 11, 23, 10), "platform_dispute", date(2026, 11, 26), []),
    "thu_platform_over_weekend": (
        kst(2026, 11, 19, 10), "platform_dispute", date(2026, 11, 24),
        [(date(2026, 11, 21), W), (date(2026, 11, 22), W)],
    ),
    "fri_chargeback_next_week": (
        kst(2026, 11, 20, 10), "chargeback", date(2026, 11, 27),
        [(date(2026, 11, 21), W), (date(2026, 11, 22), W)],
    ),
    # A notice on a Saturday counts from Sunday: the same deadline as Friday's.
    "sat_notice_like_friday": (
        kst(2026, 11, 21, 10), "platform_dispute", date(2026, 11, 25), [(date(2026, 11, 22), W)],
    ),
    "fri_notice_same_as_saturday": (
        kst(2026, 11, 20, 10), "platform_dispute", date(2026, 11, 25),
        [(date(2026, 11, 21), W), (date(2026, 11, 22), W)],
    ),
    # Seollal 2025 Jan 28–30 plus the temporary holiday Jan 27
    "seollal_2025_chargeback": (
        kst(2025, 1, 24, 10), "chargeback", date(2025, 2, 6),
        [(date(2025, 1, 25), W), (date(2025, 1, 26), W), (date(2025, 1, 27), H), (date(2025, 1, 28), H),
         (date(2025, 1, 29), H), (date(2025, 1, 30), H), (date(2025, 2, 1), W), (date(2025, 2, 2), W)],
    ),
    "seollal_2025_platform": (
        kst(2025, 1, 23, 10), "platform_dispute", date(2025, 2, 3),
        [(date(2025, 1, 25), W), (date(2025, 1, 26), W), (date(2025, 1, 27), H), (date(2025, 1, 28), H),
         (date(2025, 1, 29), H), (date(2025, 1, 30), H), (date(2025, 2, 1), W), (date(2025, 2, 2), W)],
    ),
    # Seollal 2024 Feb 9–11 falls on the weekend: substitute Mon Feb 12 (a Saturday holiday is a holiday)
    "seollal_2024_substitute": (
        kst(2024, 2, 8, 10), "platform_dispute", date(2024, 2, 15),
        [(date(2024, 2, 9), H), (date(2024, 2, 10), H), (date(2024, 2, 11), H), (date(2024, 2, 12), H)],
    ),
    "seollal_2026_mon_to_wed": (
        kst(2026, 2, 13, 10), "platform_dispute", date(2026, 2, 23),
        [(date(2026, 2, 14), W), (date(2026, 2, 15), W), (date(2026, 2, 16), H), (date(2026, 2, 17), H),
         (date(2026, 2, 18), H), (date(2026, 2, 21), W), (date(2026, 2, 22), W)],
    ),
    "seollal_2027_substitute_tuesday": (
        kst(2027, 2, 5, 10), "chargeback", date(2027, 2, 16),
        [(date(2027, 2, 6), H), (date(2027, 2, 7), H), (date(2027, 2, 8), H), (date(2027, 2, 9), H),
         (date(2027, 2, 13), W), (date(2027, 2, 14), W)],
    ),
    # Chuseok 2025 Oct 5–7 + substitute Oct 8, between 개천절 Oct 3 and 한글날 Oct 9: seven days closed
    "chuseok_2025_chargeback": (
        kst(2025, 10, 2, 10), "chargeback", date(2025, 10, 16),
        [(date(2025, 10, 3), H), (date(2025, 10, 4), W), (date(2025, 10, 5), H), (date(2025, 10, 6), H),
         (date(2025, 10, 7), H), (date(2025, 10, 8), H), (date(2025, 10, 9), H), (date(2025, 10, 11), W),
         (date(2025, 10, 12), W)],
    ),
    # Oct 1 2025 (국군의 날) is a working day: only 2024's was a holiday
    "chuseok_2025_platform": (
        kst(2025, 9, 30, 10), "platform_dispute", date(2025, 10, 10),
        [(date(2025, 10, 3), H), (date(2025, 10, 4), W), (date(2025, 10, 5), H), (date(2025, 10, 6), H),
         (date(2025, 10, 7), H), (date(2025, 10, 8), H), (date(2025, 10, 9), H)],
    ),
    "chuseok_2024": (
        kst(2024, 9, 13, 10), "platform_dispute", date(2024, 9, 23),
        [(date(2024, 9, 14), W), (date(2024, 9, 15), W), (date(2024, 9, 16), H), (date(2024, 9, 17), H),
         (date(2024, 9, 18), H), (date(2024, 9, 21), W), (date(2024, 9, 22), W)],
    ),
    # Chuseok 2026 Sep 24–26 ends on a Saturday: no substitute (only a Sunday gives one for Chuseok)
    "chuseok_2026_saturday_no_substitute": (
        kst(2026, 9, 23, 10), "chargeback", date(2026, 10, 2),
        [(date(2026, 9, 24), H), (date(2026, 9, 25), H), (date(2026, 9, 26), H), (date(2026, 9, 27), W)],
    ),
    "armed_forces_day_2024": (
        kst(2024, 9, 30, 10), "platform_dispute", date(2024, 10, 7),
        [(date(2024, 10, 1), H), (date(2024, 10, 3), H), (date(2024, 10, 5), W), (date(2024, 10, 6), W)],
    ),
    # Substitute holidays
    "samiljeol_2025_saturday_substitute_monday": (
        kst(2025, 2, 28, 10), "platform_dispute", date(2025, 3, 6),
        [(date(2025, 3, 1), H), (date(2025, 3, 2), W), (date(2025, 3, 3), H)],
    ),
    "buddha_and_children_2025_together": (
        kst(2025, 5, 2, 10), "platform_dispute", date(2025, 5, 9),
        [(date(2025, 5, 3), W), (date(2025, 5, 4), W), (date(2025, 5, 5), H), (date(2025, 5, 6), H)],
    ),
    "gwangbokjeol_2026_substitute": (
        kst(2026, 8, 14, 10), "platform_dispute", date(2026, 8, 20),
        [(date(2026, 8, 15), H), (date(2026, 8, 16), W), (date(2026, 8, 17), H)],
    ),
    "gaecheonjeol_2026_substitute": (
        kst(2026, 10, 1, 10), "platform_dispute", date(2026, 10, 7),
        [(date(2026, 10, 3), H), (date(2026, 10, 4), W), (date(2026, 10, 5), H)],
    ),
    # Election days
    "presidential_election_2025": (
        kst(2025, 5, 30, 10), "platform_dispute", date(2025, 6, 5),
        [(date(2025, 5, 31), W), (date(2025, 6, 1), W), (date(2025, 6, 3), H)],
    ),
    "presidential_election_then_memorial_day_2025": (
        kst(2025, 5, 30, 10), "chargeback", date(2025, 6, 10),
        [(date(2025, 5, 31), W), (date(2025, 6, 1), W), (date(2025, 6, 3), H), (date(2025, 6, 6), H),
         (date(2025, 6, 7), W), (date(2025, 6, 8), W)],
    ),
    "national_assembly_election_2024": (
        kst(2024, 4, 8, 10), "platform_dispute", date(2024, 4, 12), [(date(2024, 4, 10), H)],
    ),
    # Memorial Day on a Saturday has no substitute
    "local_election_2026_then_memorial_saturday": (
        kst(2026, 6, 2, 10), "platform_dispute", date(2026, 6, 8),
        [(date(2026, 6, 3), H), (date(2026, 6, 6), H), (date(2026, 6, 7), W)],
    ),
    # May 1: a working day until 2025 (근로자의날 is only a bank holiday), a public holiday (노동절) from 2026
    "workers_day_2025_is_a_business_day": (
        kst(2025, 4, 30, 10), "platform_dispute", date(2025, 5, 7),
        [(date(2025, 5, 3), W), (date(2025, 5, 4), W), (date(2025, 5, 5), H), (date(2025, 5, 6), H)],
    ),
    "labor_day_2026_is_a_holiday": (
        kst(2026, 4, 30, 10), "platform_dispute", date(2026, 5, 7),
        [(date(2026, 5, 1), H), (date(2026, 5, 2), W), (date(2026, 5, 3), W), (date(2026, 5, 5), H)],
    ),
    "constitution_day_2026_restored": (
        kst(2026, 7, 16, 10), "platform_dispute", date(2026, 7, 22),
        [(date(2026, 7, 17), H), (date(2026, 7, 18), W), (date(2026, 7, 19), W)],
    ),
    # Year ends
    "christmas_2024": (
        kst(2024, 12, 24, 10), "platform_dispute", date(2024, 12, 30),
        [(date(2024, 12, 25), H), (date(2024, 12, 28), W), (date(2024, 12, 29), W)],
    ),
    "year_end_2025_into_2026": (
        kst(2025, 12, 29, 10), "chargeback", date(2026, 1, 6),
        [(date(2026, 1, 1), H), (date(2026, 1, 3), W), (date(2026, 1, 4), W)],
    ),
    "dec_31_2026_into_2027": (
        kst(2026, 12, 31, 10), "platform_dispute", date(2027, 1, 6),
        [(date(2027, 1, 1), H), (date(2027, 1, 2), W), (date(2027, 1, 3), W)],
    ),
    "christmas_2027_saturday_substitute": (
        kst(2027, 12, 23, 10), "chargeback", date(2027, 12, 31),
        [(date(2027, 12, 25), H), (date(2027, 12, 26), W), (date(2027, 12, 27), H)],
    ),
    "year_end_2027_new_year_on_saturday": (
        kst(2027, 12, 29, 10), "platform_dispute", date(2028, 1, 3),
        [(date(2028, 1, 1), H), (date(2028, 1, 2), W)],
    ),
    # Late at night: the KST date decides, whatever the UTC date or the offset the sender used
    "kst_2330_is_still_the_22nd": (
        datetime.fromisoformat("2026-09-22T23:30:00+09:00"), "platform_dispute", date(2026, 9, 29),
        [(date(2026, 9, 24), H), (date(2026, 9, 25), H), (date(2026, 9, 26), H), (date(2026, 9, 27), W)],
    ),
    "utc_1600_on_the_22nd_is_the_23rd_in_kst": (
        datetime.fromisoformat("2026-09-22T16:00:00+00:00"), "platform_dispute", date(2026, 9, 30),
        [(date(2026, 9, 24), H), (date(2026, 9, 25), H), (date(2026, 9, 26), H), (date(2026, 9, 27), W)],
    ),
    "last_second_of_the_22nd_kst": (
        datetime.fromisoformat("2026-09-22T14:59:59+00:00"), "platform_dispute", date(2026, 9, 29),
        [(date(2026, 9, 24), H), (date(2026, 9, 25), H), (date(2026, 9, 26), H), (date(2026, 9, 27), W)],
    ),
    "first_second_of_the_23rd_kst": (
        datetime.fromisoformat("2026-09-22T15:00:00+00:00"), "platform_dispute", date(2026, 9, 30),
        [(date(2026, 9, 24), H), (date(2026, 9, 25), H), (date(2026, 9, 26), H), (date(2026, 9, 27), W)],
    ),
    "beijing_2330_on_the_22nd_is_the_23rd_in_kst": (
        datetime.fromisoformat("2026-09-22T23:30:00+08:00"), "platform_dispute", date(2026, 9, 30),
        [(date(2026, 9, 24), H), (date(2026, 9, 25), H), (date(2026, 9, 26), H), (date(2026, 9, 27), W)],
    ),
    "new_york_evening_of_the_22nd_is_the_23rd_in_kst": (
        datetime.fromisoformat("2026-09-22T20:00:00-05:00"), "platform_dispute", date(2026, 9, 30),
        [(date(2026, 9, 24), H), (date(2026, 9, 25), H), (date(2026, 9, 26), H), (date(2026, 9, 27), W)],
    ),
    "kst_new_year_eve_late_is_still_the_old_year": (
        datetime.fromisoformat("2025-12-31T23:59:00+09:00"), "platform_dispute", date(2026, 1, 6),
        [(date(2026, 1, 1), H), (date(2026, 1, 3), W), (date(2026, 1, 4), W)],
    ),
    # A notice on a holiday counts like one the day before: the notice day is never counted anyway
    "utc_new_year_eve_is_new_year_day_in_kst": (
        datetime.fromisoformat("2025-12-31T20:00:00+00:00"), "platform_dispute", date(2026, 1, 6),
        [(date(2026, 1, 3), W), (date(2026, 1, 4), W)],
    ),
    # By the UTC date (Dec 30) it would be Jan 5
    "utc_evening_of_dec_30_is_dec_31_in_kst": (
        datetime.fromisoformat("2025-12-30T20:00:00+00:00"), "platform_dispute", date(2026, 1, 6),
        [(date(2026, 1, 1), H), (date(2026, 1, 3), W), (date(2026, 1, 4), W)],
    ),
}
# fmt: on


@pytest.mark.parametrize(("notified_at", "kind", "due_day", "skipped"), COMPUTED.values(), ids=COMPUTED.keys())
def test_deadline_is_the_end_of_the_nth_korean_business_day_after_the_notice_day(
    calendar, notified_at, kind, due_day, skipped
):
    result = deadline(notified_at, kind, calendar)

    assert result.due_at == datetime.combine(due_day, datetime.min.time(), tzinfo=KST).replace(
        hour=23, minute=59, second=59
    )
    assert result.due_at.tzinfo is UTC
    assert result.due_date_kst == due_day
    assert result.rule == "computed"
    assert result.business_days == N[kind]
    assert [(c.day, c.reason) for c in result.skipped] == skipped
    assert result.notified_at == notified_at and result.notified_at.tzinfo is UTC


def test_due_at_is_stored_in_utc_as_2359_59_kst(calendar):
    result = deadline(kst(2026, 11, 23, 10), "platform_dispute", calendar)

    assert result.due_at == datetime(2026, 11, 26, 14, 59, 59, tzinfo=UTC)


def test_skipped_holidays_carry_korean_and_chinese_names(calendar):
    result = deadline(kst(2025, 5, 2, 10), "platform_dispute", calendar)
    by_day = {c.day: c for c in result.skipped}

    assert by_day[date(2025, 5, 5)].names_ko == ("부처님오신날", "어린이날")
    assert by_day[date(2025, 5, 5)].names_zh == ("佛诞日", "儿童节")
    assert by_day[date(2025, 5, 6)].names_zh == ("佛诞日替代休息日", "儿童节替代休息日")
    assert by_day[date(2025, 5, 3)].names_ko == () and by_day[date(2025, 5, 3)].reason is W


@pytest.mark.parametrize(
    ("notified_at", "day", "korean", "chinese"),
    [
        (kst(2025, 1, 24), date(2025, 1, 27), "임시공휴일", "临时公休日"),
        (kst(2025, 1, 24), date(2025, 1, 28), "설날 전날", "春节前一天"),
        (kst(2025, 1, 24), date(2025, 1, 29), "설날", "春节"),
        (kst(2025, 1, 24), date(2025, 1, 30), "설날 다음날", "春节次日"),
        (kst(2025, 10, 2), date(2025, 10, 3), "개천절", "开天节"),
        (kst(2025, 10, 2), date(2025, 10, 6), "추석", "中秋节"),
        (kst(2025, 10, 2), date(2025, 10, 8), "추석 대체 휴일", "中秋节替代休息日"),
        (kst(2025, 10, 2), date(2025, 10, 9), "한글날", "韩文日"),
        (kst(2025, 5, 30), date(2025, 6, 3), "대통령 선거일", "总统选举日"),
        (kst(2025, 5, 30), date(2025, 6, 6), "현충일", "显忠日"),
        (kst(2024, 4, 8), date(2024, 4, 10), "국회의원 선거일", "国会议员选举日"),
        (kst(2026, 6, 2), date(2026, 6, 3), "지방선거일", "地方选举日"),
        (kst(2026, 4, 30), date(2026, 5, 1), "노동절", "劳动节"),
        (kst(2026, 8, 14), date(2026, 8, 17), "광복절 대체 휴일", "光复节替代休息日"),
        (kst(2027, 12, 23), date(2027, 12, 25), "기독탄신일", "圣诞节"),
        (kst(2025, 12, 29), date(2026, 1, 1), "신정연휴", "元旦"),
        (kst(2025, 2, 28), date(2025, 3, 3), "삼일절 대체 휴일", "三一节替代休息日"),
    ],
)
def test_holiday_is_named_in_korean_and_chinese(calendar, notified_at, day, korean, chinese):
    closure = {c.day: c for c in deadline(notified_at, "chargeback", calendar).skipped}[day]

    assert closure.reason is H
    assert closure.names_ko == (korean,)
    assert closure.names_zh == (chinese,)


def test_every_kr_public_holiday_of_the_decade_has_a_chinese_name():
    kr = holidays.KR(years=range(2020, 2031), categories=holidays.PUBLIC, language="ko")
    untranslated = {name for day in kr for name in kr.get_list(day) if chinese_name(name).startswith("韩国公休日")}

    assert untranslated == set()


@pytest.mark.parametrize(
    ("korean", "chinese"),
    [
        ("추석 대체 휴일 (추정)", "中秋节替代休息日（推定）"),
        ("설날 (추정)", "春节（推定）"),
        ("재보궐 선거일", "选举日"),
        ("새로운 기념일", "韩国公休日（새로운 기념일）"),
        ("", "韩国公休日（）"),
    ],
)
def test_chinese_name_covers_estimates_and_never_crashes_on_an_unknown_name(korean, chinese):
    assert chinese_name(korean) == chinese


def test_business_days_per_kind_are_configurable(calendar):
    result = compute_deadline(
        kst(2026, 11, 23, 10), "refund_dispute", calendar=calendar, business_days={"refund_dispute": 1}
    )

    assert result.due_date_kst == date(2026, 11, 24) and result.business_days == 1


def test_a_configured_count_below_one_is_a_programming_error(calendar):
    with pytest.raises(ValueError, match="at least 1"):
        compute_deadline(kst(2026, 11, 23, 10), "chargeback", calendar=calendar, business_days={"chargeback": 0})


# Overrides


def test_a_closed_override_pushes_the_deadline_and_says_why(calendar):
    closed = calendar.with_overrides([Override(date(2026, 11, 25), OverrideState.CLOSED, "임시공휴일 (late notice)")])

    result = deadline(kst(2026, 11, 23, 10), "platform_dispute", closed)

    assert result.due_date_kst == date(2026, 11, 27)
    assert [(c.day, c.reason, c.note) for c in result.skipped] == [
        (date(2026, 11, 25), OVR, "임시공휴일 (late notice)")
    ]
    assert deadline(kst(2026, 11, 23, 10), "platform_dispute", calendar).due_date_kst == date(2026, 11, 26)


def test_an_open_override_on_a_saturday_counts_as_a_business_day(calendar):
    opened = calendar.with_overrides([Override(date(2026, 11, 21), OverrideState.OPEN, "working Saturday")])

    result = deadline(kst(2026, 11, 19, 10), "platform_dispute", opened)

    assert result.due_date_kst == date(2026, 11, 23)
    assert [(c.day, c.reason) for c in result.skipped] == [(date(2026, 11, 22), W)]


def test_an_open_override_on_a_holiday_counts_as_a_business_day(calendar):
    opened = calendar.with_overrides([parse_override("2025-01-27", "open")])

    result = deadline(kst(2025, 1, 24, 10), "chargeback", opened)

    assert result.due_date_kst == date(2025, 2, 5)
    assert date(2025, 1, 27) not in {c.day for c in result.skipped}


def test_a_closed_override_on_a_holiday_keeps_the_holiday_names(calendar):
    closed = BusinessCalendar({date(2025, 6, 3): Override(date(2025, 6, 3), OverrideState.CLOSED, "also closed")})

    closure = closed.closure(date(2025, 6, 3))

    assert closure is not None and closure.reason is OVR
    assert closure.names_ko == ("대통령 선거일",) and closure.note == "also closed"


def test_a_later_override_replaces_an_earlier_one_on_the_same_date(calendar):
    day = date(2026, 11, 25)
    closed = calendar.with_overrides([Override(day, OverrideState.CLOSED)])
    reopened = closed.with_overrides([Override(day, OverrideState.OPEN)])

    assert not closed.is_business_day(day)
    assert reopened.is_business_day(day)
    assert calendar.is_business_day(day) and calendar.overrides == {}


def test_overrides_that_close_every_day_are_refused_not_looped_on():
    shut = BusinessCalendar(Override(date(2026, 11, 24) + timedelta(days=i), OverrideState.CLOSED) for i in range(400))

    with pytest.raises(DeadlineError) as caught:
        compute_deadline(kst(2026, 11, 23, 10), "chargeback", calendar=shut, business_days=N)

    assert caught.value.code == "calendar_exhausted"


@pytest.mark.parametrize("text", ["2025-02-30", "2025/01/27", "20250127", "2025-W05-1", "", "tomorrow", "2025-1-27"])
def test_an_override_for_a_malformed_date_is_refused(text):
    with pytest.raises(InvalidOverrideDate) as caught:
        parse_override_date(text)

    assert caught.value.code == "invalid_override_date"


def test_an_override_for_a_moment_rather_than_a_date_is_refused():
    with pytest.raises(InvalidOverrideDate):
        parse_override(kst(2026, 11, 25, 9), "closed")


def test_an_override_built_with_a_plain_string_state_means_what_it_says(calendar):
    opened = calendar.with_overrides([Override(date(2026, 11, 21), "open")])

    assert opened.is_business_day(date(2026, 11, 21))
    with pytest.raises(InvalidOverride):
        Override(date(2026, 11, 21), "shut")


def test_an_override_with_an_unknown_state_is_refused():
    with pytest.raises(InvalidOverride) as caught:
        parse_override("2025-01-27", "half-day")

    assert caught.value.code == "invalid_override"
    assert parse_override("2025-01-27", "closed", "x") == Override(date(2025, 1, 27), OverrideState.CLOSED, "x")


# Explicit respond_by


def test_respond_by_date_means_2359_59_kst_of_that_date(calendar):
    result = deadline(kst(2026, 11, 23, 10), "chargeback", calendar, respond_by=date(2026, 11, 30))

    assert result.rule == "explicit"
    assert result.due_at == datetime(2026, 11, 30, 14, 59, 59, tzinfo=UTC)
    assert result.business_days == 5  # Nov 24–27 and 30
    assert [(c.day, c.reason) for c in result.skipped] == [(date(2026, 11, 28), W), (date(2026, 11, 29), W)]


def test_respond_by_datetime_is_kept_to_the_second(calendar):
    result = deadline(kst(2026, 11, 23, 10), "chargeback", calendar, respond_by=kst(2026, 11, 25, 18, 0, 30))

    assert result.due_at == datetime(2026, 11, 25, 9, 0, 30, tzinfo=UTC)
    assert result.rule == "explicit" and result.business_days == 2


def test_respond_by_wins_even_on_a_holiday_and_before_the_computed_deadline(calendar):
    result = deadline(kst(2025, 1, 24, 10), "chargeback", calendar, respond_by=date(2025, 1, 29))

    assert result.due_date_kst == date(2025, 1, 29)
    assert result.business_days == 0


def test_respond_by_the_notice_day_itself_is_accepted(calendar):
    result = deadline(kst(2026, 11, 23, 10), "chargeback", calendar, respond_by=date(2026, 11, 23))

    assert result.due_at == kst(2026, 11, 23, 23, 59, 59)
    assert result.business_days == 0 and result.skipped == ()


@pytest.mark.parametrize(
    ("notified_at", "respond_by"),
    [
        (kst(2026, 11, 23, 10), date(2026, 11, 22)),
        (kst(2026, 11, 23, 10), kst(2026, 11, 23, 9, 59, 59)),
        (kst(2026, 11, 23, 10), datetime(2026, 11, 23, 0, 59, 59, tzinfo=UTC)),
        # 01:00 KST on the 23rd: a date of the 22nd (KST) has already ended
        (datetime.fromisoformat("2026-09-22T16:00:00+00:00"), date(2026, 9, 22)),
    ],
)
def test_respond_by_before_the_notice_is_refused(calendar, notified_at, respond_by):
    with pytest.raises(RespondByBeforeNotice) as caught:
        deadline(notified_at, "chargeback", calendar, respond_by=respond_by)

    assert caught.value.code == "respond_by_before_notice"


def test_naive_respond_by_is_refused(calendar):
    with pytest.raises(NaiveTimestamp) as caught:
        deadline(kst(2026, 11, 23, 10), "chargeback", calendar, respond_by=datetime(2026, 11, 30, 18))

    assert caught.value.code == "naive_timestamp"


# Bad input


def test_naive_notice_time_is_refused(calendar):
    with pytest.raises(NaiveTimestamp) as caught:
        deadline(datetime(2026, 11, 23, 10), "chargeback", calendar)

    assert caught.value.code == "naive_timestamp"
    assert "notified_at" in caught.value.detail


@pytest.mark.parametrize("respond_by", [None, date(2026, 11, 30)])
def test_unknown_dispute_kind_is_refused(calendar, respond_by):
    with pytest.raises(UnknownDisputeKind) as caught:
        deadline(kst(2026, 11, 23, 10), "refund", calendar, respond_by=respond_by)

    assert caught.value.code == "unknown_dispute_kind"
    assert "chargeback" in caught.value.detail and "platform_dispute" in caught.value.detail


def test_error_codes_are_stable_and_all_are_deadline_errors():
    codes = {
        cls.code
        for cls in (NaiveTimestamp, RespondByBeforeNotice, UnknownDisputeKind, InvalidOverrideDate, InvalidDuration)
    }

    assert codes == {
        "naive_timestamp",
        "respond_by_before_notice",
        "unknown_dispute_kind",
        "invalid_override_date",
        "invalid_duration",
    }
    assert issubclass(InvalidDuration, DeadlineError) and issubclass(DeadlineError, ValueError)


# Reminders

DUE = datetime(2026, 11, 26, 14, 59, 59, tzinfo=UTC)


def test_all_default_reminders_are_scheduled_when_there_is_time():
    schedule = reminder_times(DUE, DEFAULT_REMINDER_OFFSETS, DUE - timedelta(hours=100))

    assert schedule == [
        (timedelta(hours=72), DUE - timedelta(hours=72)),
        (timedelta(hours=24), DUE - timedelta(hours=24)),
        (timedelta(hours=6), DUE - timedelta(hours=6)),
        (timedelta(hours=1), DUE - timedelta(hours=1)),
    ]


def test_reminders_already_past_are_skipped_not_fired_late():
    schedule = reminder_times(DUE, DEFAULT_REMINDER_OFFSETS, DUE - timedelta(hours=20))

    assert [offset for offset, _ in schedule] == [timedelta(hours=6), timedelta(hours=1)]


def test_a_reminder_due_exactly_now_is_kept():
    schedule = reminder_times(DUE, DEFAULT_REMINDER_OFFSETS, DUE - timedelta(hours=6))

    assert [offset for offset, _ in schedule] == [timedelta(hours=6), timedelta(hours=1)]


def test_no_reminders_once_the_deadline_has_passed():
    assert reminder_times(DUE, DEFAULT_REMINDER_OFFSETS, DUE + timedelta(seconds=1)) == []


def test_reminder_offsets_are_deduplicated_and_sorted():
    offsets = [timedelta(hours=1), timedelta(hours=24), timedelta(hours=1)]

    assert [o for o, _ in reminder_times(DUE, offsets, DUE - timedelta(days=2))] == [
        timedelta(hours=24),
        timedelta(hours=1),
    ]


def test_reminders_refuse_a_non_positive_offset_and_naive_times():
    with pytest.raises(InvalidDuration):
        reminder_times(DUE, [timedelta(0)], DUE - timedelta(days=1))
    with pytest.raises(NaiveTimestamp):
        reminder_times(DUE, DEFAULT_REMINDER_OFFSETS, datetime(2026, 11, 20))


# Durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("90m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("30s", timedelta(seconds=30)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 6H ", timedelta(hours=6)),
    ],
)
def test_duration_is_parsed(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "24", "h", "-1h", "1.5h", "24 hours", "0h", "0d0h", "P1D", "1h1d", "99999999999d", "1" * 40 + "h", None],
)
def test_a_due_within_that_is_not_a_duration_is_refused(text):
    with pytest.raises(InvalidDuration) as caught:
        parse_duration(text)

    assert caught.value.code == "invalid_duration"


# Showing times


def test_times_are_shown_in_utc_kst_and_beijing():
    shown = show_times(DUE)

    assert shown["utc"].isoformat() == "2026-11-26T14:59:59+00:00"
    assert shown["kst"].isoformat() == "2026-11-26T23:59:59+09:00"
    assert shown["beijing"].isoformat() == "2026-11-26T22:59:59+08:00"


def test_kst_has_no_daylight_saving_time():
    winter, summer = show_times(datetime(2026, 1, 15, tzinfo=UTC)), show_times(datetime(2026, 7, 15, tzinfo=UTC))

    assert winter["kst"].utcoffset() == summer["kst"].utcoffset() == timedelta(hours=9)
    assert winter["beijing"].utcoffset() == summer["beijing"].utcoffset() == timedelta(hours=8)
    assert BEIJING.key == "Asia/Shanghai" and KST.key == "Asia/Seoul"


def test_show_times_refuses_a_naive_timestamp():
    with pytest.raises(NaiveTimestamp):
        show_times(datetime(2026, 11, 26, 14, 59, 59))


def test_seconds_left_counts_down_and_goes_negative():
    assert seconds_left(DUE, DUE - timedelta(hours=1)) == 3600
    assert seconds_left(DUE, DUE + timedelta(seconds=90, microseconds=1)) == -91
    assert seconds_left(DUE, (DUE - timedelta(minutes=1)).astimezone(timezone(timedelta(hours=-5)))) == 60
