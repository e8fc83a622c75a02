"""Statement templates that pass the checker: exact date, time in KST, carrier event (GET /v1/templates)."""

from __future__ import annotations

from typing import Any

from services.evidence.checker.render import legal_basis
from services.evidence.checker.ruleset import LANGS, load_ruleset


class UnknownReasonCode(ValueError):
    code = "unknown_reason_code"


def statement_templates(reason_code: str, lang: str) -> dict[str, Any]:
    """The template and a filled example for one reason code in `lang`, with the legal basis."""
    templates = load_ruleset().templates
    if reason_code not in templates or reason_code.startswith("_"):
        raise UnknownReasonCode(f"no templates for reason code {reason_code!r}")
    basis = legal_basis(reason_code, lang)  # refuses an unknown lang
    entry = templates[reason_code][lang]
    return {
        "reason_code": reason_code,
        "lang": lang,
        "ruleset_version": load_ruleset().version,
        "templates": [{"text": entry["text"], "example": entry["example"]}],
        "legal_basis": basis,
    }


__all__ = ["LANGS", "UnknownReasonCode", "statement_templates"]
