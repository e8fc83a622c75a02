"""Messages from events: pure, one Jinja2 template per event type and language.

`templates/{lang}/{event}.j2` holds three blocks, `title`, `text` and `html`, rendered by three
environments over the same source, each with `StrictUndefined` (a variable the renderer did
not pass raises `TemplateVariableMissing`, never renders blank):
- text: no escaping (plain e-mail part, the webhook's `data.text`);
- html: autoescaped (the e-mail's HTML part): a `<script>` in a reason renders as text;
- markdown: the `text` block again, every value escaped for markdown (`finalize`), so a buyer's
  reason text cannot plant a link or formatting in a robot's card; our own URLs pass as they are.
Every time is shown in KST and Beijing time, amounts per currency (KRW without decimals), the
reason in the seller's language beside the Korean original, time left as a countdown, what to
do next and the case's link on the dashboard (`{base_url}/dashboard/cases/{dispute_id}`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from pydantic import BaseModel

from services.notify.errors import TemplateVariableMissing

Language = Literal["zh", "ko", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("zh", "ko", "en")
KST: Final = ZoneInfo("Asia/Seoul")
BEIJING: Final = ZoneInfo("Asia/Shanghai")
TEMPLATES: Final = Path(__file__).with_name("templates")
DIGEST: Final = "digest"
# Minor units of the currencies sellers meet; anything else gets two decimals.
CURRENCY_DECIMALS: Final = {"KRW": 0, "JPY": 0, "CNY": 2, "USD": 2, "EUR": 2, "HKD": 2}
_MARKDOWN_SPECIAL: Final = frozenset("\\`*_[]<>~|")


class Verbatim(str):
    """A value the markdown environment leaves alone (our own URLs)."""

    __slots__ = ()


@dataclass(frozen=True)
class Money:
    value: str
    currency: str


@dataclass(frozen=True)
class CaseFacts:
    """What notify knows of the case (from dispute.received/updated and deadline.scheduled)."""

    dispute_id: str
    order_id: str | None = None
    amount: Money | None = None
    reason_code: str | None = None
    reason_text: str | None = None  # the portal's Korean wording, when it gave one
    due_at: datetime | None = None


@dataclass(frozen=True)
class Message:
    title: str
    text: str
    html: str
    markdown: str
    url: str
    facts: Mapping[str, Any] = field(default_factory=dict)


def _reasons() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((TEMPLATES / "reasons.json").read_text(encoding="utf-8"))
    loaded.pop("_comment", None)
    return loaded


REASONS: Final = _reasons()


def markdown_escape(value: Any) -> Any:
    if value is None or isinstance(value, Verbatim | int | float):
        return value
    text = str(value)
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in text)


def money(amount: Money | None) -> str | None:
    if amount is None:
        return None
    places = CURRENCY_DECIMALS.get(amount.currency, 2)
    quantum = Decimal(1).scaleb(-places)
    value = Decimal(amount.value).quantize(quantum, rounding=ROUND_HALF_UP)
    return f"{amount.currency} {value:,.{places}f}"


class Formatter:
    """The language-bound helpers templates call as `fmt.*`."""

    _BEIJING = {"zh": "{time} 北京时间", "ko": "베이징 시간 {time}", "en": "{time} Beijing time"}

    def __init__(self, language: Language, now: datetime) -> None:
        self.language = language
        self.now = now

    def when(self, moment: datetime | None) -> str | None:
        """`2026-11-09 23:59 KST / 22:59 北京时间` (Beijing's date too when it is another day)."""
        if moment is None:
            return None
        kst, beijing = moment.astimezone(KST), moment.astimezone(BEIJING)
        other = beijing.strftime("%H:%M") if beijing.date() == kst.date() else beijing.strftime("%m-%d %H:%M")
        return f"{kst:%Y-%m-%d %H:%M} KST / " + self._BEIJING[self.language].format(time=other)

    def left(self, due_at: datetime | None) -> str | None:
        """Time left as a countdown: `还剩 23 小时`, `23시간 남음`, `23 hours left` (or overdue)."""
        if due_at is None:
            return None
        seconds = (due_at - self.now).total_seconds()
        overdue = seconds <= 0
        seconds = abs(seconds)
        total_hours = int(seconds // 3600)
        days, hours, minutes = 0, total_hours, 0
        if seconds < 3600:
            minutes = max(1, math.ceil(seconds / 60))
        elif total_hours >= 48 and not overdue:
            days, hours = divmod(total_hours, 24)
        return self._countdown(days, hours, minutes, overdue)

    def _countdown(self, days: int, hours: int, minutes: int, overdue: bool) -> str:
        lang = self.language
        if lang == "zh":
            span = f"{minutes} 分钟" if minutes else (f"{days} 天 {hours} 小时" if days else f"{hours} 小时")
            return f"已超时 {span}" if overdue else f"还剩 {span}"
        if lang == "ko":
            span = f"{minutes}분" if minutes else (f"{days}일 {hours}시간" if days else f"{hours}시간")
            return f"{span} 지남" if overdue else f"{span} 남음"

        def unit(n: int, word: str) -> str:
            return f"{n} {word}" if n == 1 else f"{n} {word}s"

        span = (
            unit(minutes, "minute")
            if minutes
            else (f"{unit(days, 'day')} {unit(hours, 'hour')}" if days else unit(hours, "hour"))
        )
        return f"{span} overdue" if overdue else f"{span} left"

    _OUTCOME = {
        "zh": {"won": "卖家胜诉", "lost": "买家胜诉", "partial": "部分支持"},
        "ko": {"won": "판매자 승소", "lost": "구매자 승소", "partial": "일부 인용"},
        "en": {"won": "won by the seller", "lost": "lost (the buyer won)", "partial": "partly upheld"},
    }

    def money(self, amount: Money | Mapping[str, str] | None) -> str | None:
        if isinstance(amount, Mapping):
            amount = Money(value=amount["value"], currency=amount["currency"])
        return money(amount)

    def outcome(self, outcome: str) -> str:
        return self._OUTCOME[self.language].get(outcome, outcome)

    def reason(self, code: str | None) -> str | None:
        if code is None:
            return None
        return str(REASONS.get(code, REASONS["OTHER"])[self.language])

    def reason_ko(self, code: str | None) -> str | None:
        return None if code is None else str(REASONS.get(code, REASONS["OTHER"])["ko"])

    def hint(self, code: str | None) -> str:
        return str(REASONS.get(code or "OTHER", REASONS["OTHER"])["hint"][self.language])


def _environment(*, autoescape: bool, finalize: Any = None) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        finalize=finalize,
        auto_reload=False,  # templates change with a deploy: no stat() per render
    )
    return env


class Renderer:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._text = _environment(autoescape=False)
        self._html = _environment(autoescape=True)
        self._markdown = _environment(autoescape=False, finalize=markdown_escape)

    def case_url(self, dispute_id: str) -> Verbatim:
        return Verbatim(f"{self.base_url}/dashboard/cases/{quote(dispute_id, safe='')}")

    def render(
        self,
        event_type: str,
        data: BaseModel | Mapping[str, Any],
        case: CaseFacts,
        *,
        language: Language,
        now: datetime,
    ) -> Message:
        """The message of one event for one seller's language."""
        event = data.model_dump(mode="python") if isinstance(data, BaseModel) else dict(data)
        context = self._context(case, language=language, now=now) | {"e": event, "event_type": event_type}
        return self._render(f"{language}/{event_type}.j2", context, facts=_facts(case, event))

    def render_digest(self, cases: Sequence[CaseFacts], *, language: Language, now: datetime, day: date) -> Message:
        """The daily digest: one message listing the small disputes of `day`."""
        fmt = Formatter(language, now)
        items = [self._context(case, language=language, now=now) for case in cases]
        context = {
            "fmt": fmt,
            "items": items,
            "count": len(items),
            "day": day.isoformat(),
            "url": Verbatim(f"{self.base_url}/dashboard"),
        }
        facts = {"day": day.isoformat(), "dispute_ids": [case.dispute_id for case in cases]}
        return self._render(f"{language}/{DIGEST}.j2", context, facts=facts)

    def _context(self, case: CaseFacts, *, language: Language, now: datetime) -> dict[str, Any]:
        fmt = Formatter(language, now)
        original = case.reason_text or fmt.reason_ko(case.reason_code)
        return {
            "fmt": fmt,
            "dispute_id": case.dispute_id,
            "order_id": case.order_id,
            "amount": fmt.money(case.amount),
            "reason": fmt.reason(case.reason_code),
            # The Korean original beside it, unless it says the same (a Korean seller).
            "reason_original": None if original == fmt.reason(case.reason_code) else original,
            "hint": fmt.hint(case.reason_code),
            "due": fmt.when(case.due_at),
            "left": fmt.left(case.due_at),
            "url": self.case_url(case.dispute_id),
        }

    def _render(self, name: str, context: Mapping[str, Any], *, facts: Mapping[str, Any]) -> Message:
        try:
            title = _block(self._text, name, "title", context)
            text = _block(self._text, name, "text", context)
            html = _block(self._html, name, "html", context)
            markdown = _block(self._markdown, name, "text", context)
        except jinja2.UndefinedError as exc:
            raise TemplateVariableMissing(f"Template {name} used an undefined variable: {exc.message}") from None
        except jinja2.TemplateNotFound:
            raise TemplateVariableMissing(f"No template {name}.") from None
        return Message(
            title=" ".join(title.split()),  # one line: a title becomes an e-mail subject
            text=text.strip(),
            html=html.strip(),
            markdown=markdown.strip(),
            url=str(context["url"]),
            facts=facts,
        )


def _block(env: jinja2.Environment, name: str, block: str, context: Mapping[str, Any]) -> str:
    template = env.get_template(name)
    return "".join(template.blocks[block](template.new_context(dict(context))))


def _facts(case: CaseFacts, event: Mapping[str, Any]) -> dict[str, Any]:
    """The event's facts for a webhook's `data` (JSON-ready): the event's own and the case's."""
    facts: dict[str, Any] = json.loads(json.dumps(event, default=str))
    known = {
        "dispute_id": case.dispute_id,
        "order_id": case.order_id,
        "amount": None if case.amount is None else {"value": case.amount.value, "currency": case.amount.currency},
        "reason_code": case.reason_code,
        "due_at": None if case.due_at is None else case.due_at.isoformat(),
    }
    for key, value in known.items():
        if facts.get(key) is None:  # an update names only what changed: the case fills the rest
            facts[key] = value
    return facts
