"""Addresses and recipients as delivery proofs write them (meta, file text, or an image's OCR text)."""

from __future__ import annotations

import re

_BUILDING = re.compile(
    r"(?:로|길|路|街|동|리|가|번지|road|street|st|ro|gil|ave|avenue)\.?\s*\d+(?:-\d+)?|\d+(?:-\d+)?\s*(?:번지|号|號)"
    r"|\b\d+(?:-\d+)?\s+(?:[a-z]+\s+){1,3}(?:street|st|road|rd|avenue|ave|blvd|lane|ln|way)\b",
    re.IGNORECASE,
)
_UNIT = re.compile(r"\d+\s*(?:층|호|楼|樓|室|F\b)|(?:unit|apt|suite|room|floor|#)\.?\s*\d+|지하\s*\d+|\bB\d+\b", re.I)
RECIPIENT = re.compile(r"(수령인|받는\s*분|收件人|签收人|recipient)\s*[:：]?\s*\S+", re.IGNORECASE)


def full_address(text: str) -> bool:
    """A building number *and* a floor or unit (SPEC: a full address has both)."""
    return bool(_BUILDING.search(text) and _UNIT.search(text))
