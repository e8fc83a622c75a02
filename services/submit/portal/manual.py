"""The `manual` adapter's one rule: the receipt number a seller got from WING, format checked.

The package is marked ready for upload in WING, the seller uploads it there and records the number
WING showed (`POST .../submission/receipt`). We accept 8 to 20 digits, optionally grouped with
single hyphens or spaces, optionally after "WING" (`WING-2026-0301-5566`), and store the digits alone
(`202603015566`), so one receipt has one spelling.
"""

from __future__ import annotations

import re

from services.submit.errors import InvalidReceiptNumber

_FORMAT = re.compile(r"^(?:WING[-\s]?)?(\d[\d\s-]*\d)$", re.IGNORECASE)


def receipt_number(raw: str) -> str:
    """The receipt number as stored (digits only), or `InvalidReceiptNumber`."""
    match = _FORMAT.match(raw.strip())
    digits = "" if match is None else re.sub(r"[\s-]", "", match[1])
    if match is None or re.search(r"[\s-]{2,}", match[1]) or not 8 <= len(digits) <= 20:
        raise InvalidReceiptNumber("A WING receipt number is 8 to 20 digits (hyphens or spaces between groups).")
    return digits
