import pytest

from services.ingest.domain.reason_codes import reason_from_network_code
from shared.contracts import ReasonCode as R


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13.1", R.NOT_RECEIVED),
        ("13.3", R.NOT_AS_DESCRIBED),
        ("13.6", R.CREDIT_NOT_PROCESSED),
        ("13.9", R.OTHER),  # family fallback
        ("10.4", R.UNAUTHORIZED),
        ("11.1", R.OTHER),
        ("12.6.1", R.DUPLICATE_CHARGE),
        ("12.5", R.OTHER),
        ("4855", R.NOT_RECEIVED),
        ("4853", R.NOT_AS_DESCRIBED),
        ("4837", R.UNAUTHORIZED),
        ("4834", R.DUPLICATE_CHARGE),
        ("4860", R.CREDIT_NOT_PROCESSED),
        (" 13.1 ", R.NOT_RECEIVED),
    ],
)
def test_card_network_codes_map_to_our_reason_codes(raw, expected):
    assert reason_from_network_code(raw) is expected


@pytest.mark.parametrize("raw", [None, "", "14.1", "4899", "abc", "13.1.2.3", "1313"])
def test_unknown_codes_map_to_nothing_rather_than_a_guess(raw):
    assert reason_from_network_code(raw) is None
