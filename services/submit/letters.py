"""The package's PDFs: the cover letter (Korean, with Chinese annotations) and the message log.

Both are rendered with reportlab in one TrueType font that has every Hangul syllable and simplified
Chinese (`LetterFont`, by default Debian's fonts-wqy-microhei; `DD_SUBMIT_LETTER_FONT_PATH`), embedded as
a subset, and nothing else: no base-14 font is referenced (the canvas starts in our font), because
reportlab's CID fonts are not embedded and show as empty boxes in common viewers, and its `TTFont`
refuses CFF (`.otf`) outlines. The output is byte-for-byte the same for the same input (reportlab's
`invariant` mode: fixed dates and document id), so a package built twice has one sha256.

Times: the cover letter's timeline is in KST; the message log shows each message in UTC and in KST
(a time with no zone is shown as written, marked so, and never converted).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

KST = ZoneInfo("Asia/Seoul")
INSTALL_HINT = "apt-get install fonts-wqy-microhei (or `make install` as root)"

KIND_LABELS: dict[str, tuple[str, str]] = {  # kind -> (ko, zh)
    "cover_letter": ("답변서", "答复函"),
    "shipping_label": ("운송장", "运单"),
    "tracking_record": ("배송 조회 기록", "物流记录"),
    "proof_of_delivery": ("배송 완료 증명", "签收证明"),
    "message_log": ("메시지 기록", "沟通记录"),
    "product_photo": ("상품 사진", "商品照片"),
    "product_listing": ("상품 페이지", "商品页面"),
    "invoice": ("영수증", "发票"),
    "refund_record": ("환불 기록", "退款记录"),
    "translation": ("번역문", "译文"),
    "statement": ("진술서", "陈述书"),
    "other": ("기타", "其他"),
}
REASON_LABELS: dict[str, tuple[str, str]] = {
    "NOT_RECEIVED": ("상품 미수령", "未收到商品"),
    "NOT_AS_DESCRIBED": ("상품 설명 불일치", "与描述不符"),
    "DAMAGED": ("상품 파손", "商品损坏"),
    "DUPLICATE_CHARGE": ("중복 결제", "重复扣款"),
    "UNAUTHORIZED": ("무단 결제", "未经授权的交易"),
    "CREDIT_NOT_PROCESSED": ("환불 미처리", "退款未处理"),
    "OTHER": ("기타", "其他"),
}


class FontMissing(RuntimeError):
    """The letters' font file is not there: a deployment problem, not the seller's."""


@dataclass(frozen=True)
class LetterFont:
    path: Path
    index: int = 0

    @property
    def name(self) -> str:
        return f"DDLetter-{self.path.stem}-{self.index}"

    def register(self) -> str:
        """Register the face with reportlab once per process; its name for styles."""
        if self.name in pdfmetrics.getRegisteredFontNames():
            return self.name
        if not self.path.is_file():
            raise FontMissing(
                f"The letter font {self.path} is missing: install it with {INSTALL_HINT}, "
                f"or point DD_SUBMIT_LETTER_FONT_PATH at a TrueType (glyf) font with Hangul and Chinese."
            )
        pdfmetrics.registerFont(TTFont(self.name, str(self.path), subfontIndex=self.index))
        return self.name


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    ko: str
    zh: str


@dataclass(frozen=True)
class EvidenceLine:
    name: str  # the file's name in the package
    kind: str
    sha256: str


@dataclass(frozen=True)
class LegalBasis:
    """One article the evidence report cites for the reason code (its ko text and the zh title)."""

    law: str
    article: str
    title_ko: str
    summary_ko: str
    title_zh: str = ""


@dataclass(frozen=True)
class CoverLetter:
    dispute_id: str
    order_id: str
    seller_name: str
    amount: str  # "39,000 KRW": formatted by the caller
    reason_code: str
    timeline: Sequence[TimelineEntry]
    evidence: Sequence[EvidenceLine]
    legal_basis: Sequence[LegalBasis]


@dataclass(frozen=True)
class Message:
    """One message of a log. `at` is None when its send time has no zone or is not ISO 8601: then
    `written` (the time as the log gave it) is shown as it is, marked as having no zone, since
    converting it would be a guess."""

    at: datetime | None
    sender: str
    text: str
    written: str = ""


def kst(at: datetime) -> str:
    return at.astimezone(KST).strftime("%Y-%m-%d %H:%M KST")


def utc(at: datetime) -> str:
    return at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M UTC")


class _Styles:
    def __init__(self, font: str) -> None:
        base = {"fontName": font, "wordWrap": "CJK"}
        self.title = ParagraphStyle("title", fontSize=17, leading=23, spaceAfter=2, **base)
        self.heading = ParagraphStyle("heading", fontSize=12.5, leading=17, spaceBefore=10, **base)
        self.body = ParagraphStyle("body", fontSize=10, leading=14.5, **base)
        self.zh = ParagraphStyle("zh", fontSize=8.5, leading=12, textColor=colors.HexColor("#555555"), **base)
        self.cell = ParagraphStyle("cell", fontSize=8.5, leading=11.5, **base)

    def ko_zh(self, ko: str, zh: str, style: ParagraphStyle | None = None) -> list[Any]:
        return [Paragraph(escape(ko), style or self.heading), Paragraph(escape(f"（{zh}）"), self.zh)]


def _table(rows: list[list[Any]], widths: list[float], font: str) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), font),
                ("FONTSIZE", (0, 0), (-1, -1), 8.5),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
            ]
        )
    )
    return table


# One PDF at a time per process: submit renders in worker threads, and reportlab's registered TTFont (one
# per process, shared by every document) is not thread-safe: two documents subsetting it at once corrupt
# each other's glyph tables (IndexError / KeyError in TTFontFile.makeSubset), found by `make chaos`.
_RENDERING = threading.Lock()


def _render(story: list[Any], font: str, title: str) -> bytes:
    with _RENDERING:
        return _build_pdf(story, font, title)


def _build_pdf(story: list[Any], font: str, title: str) -> bytes:
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=title,
        author="Dispute Desk",
        invariant=1,
        initialFontName=font,
    )
    doc.build(story)
    return out.getvalue()


def cover_letter(letter: CoverLetter, font: LetterFont) -> bytes:
    """The cover letter PDF: the case, the timeline in KST, the evidence list and the legal basis."""
    name = font.register()
    s = _Styles(name)
    cell = s.cell
    reason_ko, reason_zh = REASON_LABELS.get(letter.reason_code, (letter.reason_code, letter.reason_code))
    story: list[Any] = [
        Paragraph("분쟁 답변서", s.title),
        Paragraph("（争议答复函：以下为韩文正文，括号内为中文注释）", s.zh),
        Spacer(1, 4 * mm),
        *s.ko_zh("1. 사건 개요", "案件概要"),
        _table(
            [
                [Paragraph("항목（项目）", cell), Paragraph("내용（内容）", cell)],
                [Paragraph("분쟁 번호（争议编号）", cell), Paragraph(escape(letter.dispute_id), cell)],
                [Paragraph("주문 번호（订单号）", cell), Paragraph(escape(letter.order_id), cell)],
                [Paragraph("판매자（卖家）", cell), Paragraph(escape(letter.seller_name), cell)],
                [Paragraph("금액（金额）", cell), Paragraph(escape(letter.amount), cell)],
                [Paragraph("분쟁 사유（争议原因）", cell), Paragraph(escape(f"{reason_ko}（{reason_zh}）"), cell)],
            ],
            [50 * mm, 124 * mm],
            name,
        ),
        *s.ko_zh("2. 경과 (한국 표준시)", "时间线，韩国标准时间 KST"),
        _table(
            [[Paragraph("일시（时间）", cell), Paragraph("내용（事件）", cell)]]
            + [
                [Paragraph(kst(entry.at), cell), Paragraph(escape(f"{entry.ko}（{entry.zh}）"), cell)]
                for entry in sorted(letter.timeline, key=lambda e: e.at)
            ],
            [40 * mm, 134 * mm],
            name,
        ),
        *s.ko_zh("3. 제출 증거 목록", "提交证据清单"),
        _table(
            [[Paragraph(h, cell) for h in ("파일（文件）", "종류（类型）", "SHA-256")]]
            + [
                [
                    Paragraph(escape(line.name), cell),
                    Paragraph(escape("{}（{}）".format(*KIND_LABELS.get(line.kind, (line.kind, line.kind)))), cell),
                    Paragraph(line.sha256[:16] + "…", cell),
                ]
                for line in letter.evidence
            ],
            [78 * mm, 48 * mm, 48 * mm],
            name,
        ),
        *s.ko_zh("4. 법적 근거", "法律依据"),
    ]
    for basis in letter.legal_basis:
        story.append(Paragraph(escape(f"{basis.law} {basis.article} ({basis.title_ko})"), s.body))
        story.append(Paragraph(escape(basis.summary_ko), s.body))
        if basis.title_zh:
            story.append(Paragraph(escape(f"（{basis.title_zh}）"), s.zh))
    if not letter.legal_basis:
        story.append(Paragraph("해당 없음（无）", s.body))
    story += [
        *s.ko_zh("5. 결론", "结论"),
        Paragraph("판매자는 위 증거에 따라 주문 상품을 정상적으로 이행하였으므로 본 분쟁의 기각을 요청합니다.", s.body),
        Paragraph("（卖家已依据上述证据正常履行订单，请求驳回本争议。）", s.zh),
    ]
    return _render(story, name, f"분쟁 답변서 {letter.dispute_id}")


def _message_order(m: Message) -> tuple[bool, datetime]:
    return (m.at is None, m.at or datetime.min.replace(tzinfo=KST))  # timed first, oldest first; the rest as given


def message_log(
    dispute_id: str,
    messages: Sequence[Message],
    font: LetterFont,
    *,
    evidence_id: str | None = None,
    source: str | None = None,
) -> bytes:
    """The message log PDF: each message with its time in UTC and in KST, oldest first (messages
    whose time has no zone last, in their order, their time as written); `evidence_id` and
    `source` name the log it renders."""
    name = font.register()
    s = _Styles(name)
    cell = s.cell
    rows = [[Paragraph(h, cell) for h in ("UTC", "KST（韩国时间）", "보낸 사람（发送人）", "내용（内容）")]]
    for m in sorted(messages, key=_message_order):
        if m.at is not None:
            times = [Paragraph(utc(m.at), cell), Paragraph(kst(m.at), cell)]
        else:
            written = escape(m.written) if m.written else "—"
            times = [Paragraph(f"{written}<br/>시간대 없음（无时区）", cell), Paragraph("—", cell)]
        text = Paragraph(escape(m.text).replace("\n", "<br/>"), cell)
        rows.append([*times, Paragraph(escape(m.sender), cell), text])
    story: list[Any] = [
        Paragraph(escape(f"메시지 기록 {dispute_id}"), s.title),
        Paragraph("（沟通记录：每条消息的时间以 UTC 与韩国时间 KST 标注）", s.zh),
    ]
    if evidence_id is not None or source is not None:
        origin = " · ".join(part for part in (f"출처（来源）: {source}" if source else "", evidence_id or "") if part)
        story.append(Paragraph(escape(origin), s.zh))
    story += [Spacer(1, 4 * mm), _table(rows, [36 * mm, 36 * mm, 26 * mm, 76 * mm], name)]
    return _render(story, name, f"메시지 기록 {dispute_id}")
