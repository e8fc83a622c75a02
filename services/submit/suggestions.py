"""What a verdict means for the seller, in Chinese (or ko/en): a summary and what to do better next time.

Pure: from the outcome, the case's reason code and the findings of its last report (the evidence
checker's rule ids), with the texts in `suggestions.json` beside this module.

- `lost` / `partial`: a suggestion per finding's rule (blockers first, then warnings, each once),
  then the reason code's own suggestions (a lost "not as described" case with a clean report still
  learns "在商品页用韩文标注尺寸");
- `won`: the warnings' suggestions (still worth fixing), or one line saying to keep the same records.

At most `MAX_SUGGESTIONS`, no text twice. A rule id the table does not know (a newer checker) is
skipped, never an error: a verdict is a fact and is always recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from shared.contracts.events import Finding, Money, Outcome

Lang = Literal["zh", "ko", "en"]
MAX_SUGGESTIONS = 5
TABLE_PATH = Path(__file__).with_name("suggestions.json")


@dataclass(frozen=True)
class Advice:
    summary: str
    suggestions: tuple[str, ...]


@cache
def table() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    return data


def _suggestion_texts(outcome: Outcome, reason_code: str, findings: tuple[Finding, ...], lang: Lang) -> list[str]:
    by_rule: dict[str, dict[str, str]] = table()["by_rule"]
    ranked = sorted(findings, key=lambda f: f.severity != "blocker")  # stable: blockers first, order kept
    if outcome == "won":
        ranked = [f for f in ranked if f.severity == "warning"]
    texts = [by_rule[f.rule][lang] for f in ranked if f.rule in by_rule]
    if outcome == "won":
        texts = texts or [table()["won_keep"][lang]]
    else:
        texts += [row[lang] for row in table()["by_reason"].get(reason_code, ())]
    return list(dict.fromkeys(texts))[:MAX_SUGGESTIONS]


def _summary(dispute_id: str, outcome: Outcome, amount: Money | None, policy_clause: str | None, lang: Lang) -> str:
    amount_text = "" if amount is None else table()["amount"][lang].format(value=amount.value, currency=amount.currency)
    text: str = table()["summary"][outcome][lang].format(dispute_id=dispute_id, amount=amount_text)
    if policy_clause:
        text += ("" if lang != "en" else " ") + table()["clause"][lang].format(clause=policy_clause)
    return text


def advise(
    outcome: Outcome,
    *,
    dispute_id: str,
    reason_code: str,
    findings: tuple[Finding, ...] = (),
    amount: Money | None = None,
    policy_clause: str | None = None,
    lang: Lang = "zh",
) -> Advice:
    """The summary and suggestions of one verdict, in `lang` (Chinese by default: the seller's)."""
    return Advice(
        _summary(dispute_id, outcome, amount, policy_clause, lang),
        tuple(_suggestion_texts(outcome, reason_code, findings, lang)),
    )
