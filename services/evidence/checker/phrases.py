"""The ruleset's word lists compiled once per ruleset version."""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.evidence.checker.ruleset import Ruleset

_CACHE: dict[str, Phrases] = {}


def _words(words: list[str]) -> re.Pattern[str]:
    """Latin words on word boundaries, CJK words as substrings; spaces match any spacing."""
    parts = []
    for w in sorted(set(words), key=len, reverse=True):
        body = r"\s*".join(re.escape(p) for p in w.split())
        parts.append(rf"\b{body}\b" if w.isascii() else body)
    return re.compile("|".join(parts) or r"(?!)", re.IGNORECASE)


def _all(groups: dict[str, list[str]]) -> list[str]:
    return [w for lang in sorted(groups) for w in groups[lang]]


@dataclass(frozen=True)
class Phrases:
    hedges: re.Pattern[str]
    hedge_exclusions: re.Pattern[str]
    withdrawal: re.Pattern[str]
    negation: re.Pattern[str]
    waiver: re.Pattern[str]
    confirmation: re.Pattern[str]
    delivered: re.Pattern[str]
    carriers: re.Pattern[str]
    glossary: tuple[tuple[re.Pattern[str], str, str], ...]  # (literal pattern, literal, standard)
    status_aliases: dict[str, str]


def phrases(ruleset: Ruleset) -> Phrases:
    if (found := _CACHE.get(ruleset.version)) is not None:
        return found
    p = ruleset.phrases
    aliases = [a for c in ruleset.carriers for a in (*c.aliases, *c.names.values())]
    compiled = Phrases(
        hedges=_words(_all(p["hedges"])),
        hedge_exclusions=_words(_all(p["hedge_exclusions"])),
        withdrawal=re.compile("|".join(f"(?:{r})" for r in _all(p["withdrawal"])), re.IGNORECASE),
        negation=_words(_all(p["negation"])),
        waiver=_words(_all(p["waiver"])),
        confirmation=_words(_all(p["confirmation"])),
        delivered=_words(p["delivered_words"]),
        carriers=_words(aliases),
        glossary=tuple((_words([g["literal"]]), g["literal"], g["standard"]) for g in p["glossary"]),
        status_aliases={k.casefold(): v for k, v in p["status_aliases"].items()},
    )
    _CACHE[ruleset.version] = compiled
    return compiled
