from services.ingest.domain.stats import Tally, summarise


def _t(reason, month, status, count, carrier="unknown"):
    return Tally(reason, month, carrier, status, count)


def test_win_rate_counts_partial_wins_as_decided_not_won():
    stats = summarise(
        [
            _t("NOT_RECEIVED", "2026-09", "won", 3),
            _t("NOT_RECEIVED", "2026-10", "lost", 1),
            _t("DAMAGED", "2026-10", "partial", 1),
        ],
        on_time=0,
        late=0,
    )
    assert stats.overall.win_rate == 0.6
    assert stats.by_reason["NOT_RECEIVED"].win_rate == 0.75 and stats.by_reason["DAMAGED"].win_rate == 0.0
    assert stats.by_month["2026-10"].total == 2 and list(stats.by_month) == ["2026-09", "2026-10"]


def test_on_time_rate_counts_expired_cases_as_missed():
    stats = summarise([_t("OTHER", "2026-09", "expired", 1), _t("OTHER", "2026-09", "submitted", 3)], on_time=2, late=1)
    assert stats.on_time_rate == 0.5 and stats.expired == 1


def test_rates_with_nothing_to_divide_are_none():
    stats = summarise([_t("OTHER", "2026-09", "received", 2)], on_time=0, late=0)
    assert stats.overall.win_rate is None and stats.on_time_rate is None and stats.overall.open == 2
