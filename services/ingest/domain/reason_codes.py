"""Card-network reason codes (Visa 10.x–13.x, Mastercard 48xx) to our reason codes.

The mapping is data (`reason_codes.json`); the most specific entry wins: Visa "12.6.1" before
"12.6" before the family "12". A code we do not know maps to nothing, and the caller refuses
the dispute rather than guessing.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

from shared.contracts import ReasonCode

_DATA = Path(__file__).with_name("reason_codes.json")
_VISA = re.compile(r"^1[0-3](\.\d{1,2}){0,2}$")
_MASTERCARD = re.compile(r"^48\d\d$")


@cache
def _table() -> dict[str, dict[str, ReasonCode]]:
    raw = json.loads(_DATA.read_text(encoding="utf-8"))
    return {
        network: {code: ReasonCode(ours) for code, ours in codes.items()}
        for network, codes in raw.items()
        if not network.startswith("_")
    }


def reason_from_network_code(raw: str | None) -> ReasonCode | None:
    """Our reason code for a Visa or Mastercard code, or None when the code is not one we map."""
    code = (raw or "").strip()
    if _MASTERCARD.fullmatch(code):
        return _table()["mastercard"].get(code)
    if _VISA.fullmatch(code):
        visa = _table()["visa"]
        parts = code.split(".")
        for n in range(len(parts), 0, -1):  # most specific first
            if (found := visa.get(".".join(parts[:n]))) is not None:
                return found
    return None
