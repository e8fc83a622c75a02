"""A report in the reader's language (zh / ko / en): message and fix per finding, legal basis."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.evidence.checker.model import Report
from services.evidence.checker.ruleset import LANGS, load_ruleset

_TERM_PARAMS = ("kind", "status", "reason", "source", "subject", "language")  # params whose values are terms
_SEP = {"zh": "、", "ko": ", ", "en": ", "}
_GAP = {"zh": "", "ko": " ", "en": " "}  # between a message and its image note


class UnsupportedLanguage(ValueError):
    code = "unsupported_language"

    def __init__(self, lang: str) -> None:
        super().__init__(f"language must be one of {', '.join(LANGS)}, not {lang!r}")


class _Keep(dict[str, Any]):
    def __missing__(self, key: str) -> str:  # a placeholder without a value stays visible, never a KeyError
        return "{" + key + "}"


def _lang(lang: str) -> str:
    if lang not in LANGS:
        raise UnsupportedLanguage(lang)
    return lang


def render(report: Report, lang: str) -> list[dict[str, Any]]:
    """`[{rule, severity, evidence_id, fields, message, fix}]` with message and fix in `lang`."""
    lang = _lang(lang)
    ruleset = load_ruleset()
    terms = ruleset.messages["terms"][lang]
    out = []
    for f in report.findings:
        values = _Keep({k: terms.get(k, {}).get(v, v) if k in _TERM_PARAMS else v for k, v in f.params.items()})
        values["fields"] = _SEP[lang].join(terms["field"].get(x, x) for x in f.fields)
        text = ruleset.messages["rules"][f.rule][lang]
        message = text["message"].format_map(values)
        if note := _image_note(f.params, ruleset.messages["image_notes"][lang]):
            message = f"{message}{_GAP[lang]}{note.format_map(values)}"
        rendered = {
            "rule": f.rule,
            "severity": f.severity,
            "evidence_id": f.evidence_id,
            "fields": list(f.fields),
            "message": message,
            "fix": text["fix"].format_map(values),
        }
        if quote := image_quote(f.params):
            rendered["image_text"] = quote
        out.append(rendered)
    return out


def _image_note(params: Mapping[str, str], notes: Mapping[str, str]) -> str | None:
    """What the image's text showed, for findings that rest on it (`image` = found | not_found | uncertain)."""
    state = params.get("image")
    if params.get("image_text"):
        state = "uncertain_quote" if state == "uncertain" else state
    elif state == "found":
        return None  # nothing to quote
    return notes.get(state) if state else None


def image_quote(params: Mapping[str, str]) -> dict[str, Any] | None:
    """The image line a finding quotes, for the dashboard to mark: `{text, box: [l, t, w, h] | None, confidence}`."""
    if "image_text" not in params:
        return None
    box = [int(n) for n in params.get("image_box", "").split(",") if n.strip().lstrip("-").isdigit()]
    confidence = params.get("image_confidence", "")
    return {
        "text": params["image_text"],
        "box": box if len(box) == 4 else None,
        "confidence": int(confidence) if confidence.isdigit() else None,
    }


def legal_basis(reason_code: str, lang: str) -> list[dict[str, str]]:
    """The articles of the e-commerce consumer protection act the seller relies on for this reason code."""
    lang = _lang(lang)
    legal = load_ruleset().legal
    return [
        {
            "id": a,
            "law": legal["law"][lang],
            "article": legal["articles"][a]["article"],
            "title": legal["articles"][a]["title"][lang],
            "summary": legal["articles"][a]["summary"][lang],
        }
        for a in legal["by_reason"].get(reason_code, ())
    ]


def render_report(report: Report, lang: str) -> dict[str, Any]:
    """The whole diagnostic report as `GET /v1/cases/{id}/report?lang=` answers it."""
    return {
        "status": report.status,
        "ruleset_version": report.ruleset_version,
        "checked_at": report.checked_at.isoformat(),
        "reason_code": str(report.reason_code),
        "legal_basis": legal_basis(report.reason_code, lang),
        "findings": render(report, lang),
    }
