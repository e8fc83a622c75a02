"""Screenshots the tests draw themselves: chat and tracking pages in the looks sellers upload.

Each function returns the PNG bytes of a 1080×1920 phone screenshot drawn with Pillow and the CJK
font Debian ships (fonts-wqy-microhei), dark text on light ground, 28 px or more, so Tesseract can
read it. The drawing is deterministic: the same arguments give the same bytes (no clock, no
randomness, no metadata), so a test can compare what OCR read with what was drawn.

The words on each screen are the ones the checker looks for (markers, order ids, times, delivery
statuses); ``*_texts`` helpers are not needed: tests pass the values in and look for them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
WIDTH, HEIGHT = 1080, 1920

Color = tuple[int, int, int]
INK: Color = (20, 20, 20)
GREY_INK: Color = (70, 70, 70)
PAPER: Color = (255, 255, 255)
LIGHT: Color = (242, 242, 242)


@cache
def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_PATH, size)


@dataclass(frozen=True)
class Bubble:
    text: str
    mine: bool  # the seller's own message (right side) or the buyer's (left side)
    time: str | None = None  # shown under the bubble


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def blurred(png_bytes: bytes, radius: float) -> bytes:
    """The same screenshot out of focus (a photo of a screen): for the low-confidence read."""
    image = Image.open(io.BytesIO(png_bytes)).convert("RGB")
    return png(image.filter(ImageFilter.GaussianBlur(radius)))


def _screen(background: Color = PAPER) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (WIDTH, HEIGHT), background)
    return image, ImageDraw.Draw(image)


def _status_bar(draw: ImageDraw.ImageDraw, fill: Color, ink: Color = INK) -> None:
    draw.rectangle((0, 0, WIDTH, 70), fill=fill)
    draw.text((40, 16), "14:30", font=font(32), fill=ink)


def _wrap(text: str, size: int, max_width: int) -> list[str]:
    """Break text into lines no wider than max_width (per character: CJK has no spaces to break at)."""
    lines: list[str] = []
    current = ""
    for char in text:
        if font(size).getlength(current + char) > max_width and current:
            lines.append(current.rstrip())
            current = char.lstrip()
        else:
            current += char
    if current:
        lines.append(current)
    return lines


def _bubbles(
    draw: ImageDraw.ImageDraw,
    bubbles: Sequence[Bubble],
    *,
    top: int,
    mine_fill: Color,
    theirs_fill: Color,
    size: int = 36,
) -> int:
    y = top
    max_text = 640
    for bubble in bubbles:
        lines = _wrap(bubble.text, size, max_text)
        line_h = size + 14
        text_w = max(int(font(size).getlength(line)) for line in lines)
        box_w, box_h = text_w + 60, line_h * len(lines) + 40
        left = WIDTH - 60 - box_w if bubble.mine else 60
        draw.rounded_rectangle(
            (left, y, left + box_w, y + box_h), radius=24, fill=mine_fill if bubble.mine else theirs_fill
        )
        for i, line in enumerate(lines):
            draw.text((left + 30, y + 20 + i * line_h), line, font=font(size), fill=INK)
        y += box_h + 10
        if bubble.time:
            time_w = int(font(30).getlength(bubble.time))
            time_left = WIDTH - 60 - time_w if bubble.mine else 60
            draw.text((time_left, y), bubble.time, font=font(30), fill=GREY_INK)
            y += 50
        y += 30
    return y


def coupang_chat(order_id: str, *, with_times: bool = True) -> bytes:
    """A Coupang Seller Center (쿠팡 판매자센터) buyer inquiry thread about one order."""
    image, draw = _screen(PAPER)
    _status_bar(draw, PAPER)
    draw.rectangle((0, 70, WIDTH, 200), fill=PAPER)
    draw.text((40, 95), "쿠팡 Coupang", font=font(52), fill=INK)
    draw.text((600, 108), "판매자센터", font=font(40), fill=INK)
    draw.line((0, 200, WIDTH, 200), fill=(200, 200, 200), width=3)
    draw.rectangle((0, 203, WIDTH, 400), fill=LIGHT)
    draw.text((40, 225), "고객문의 상세 · 판매자센터 문의", font=font(38), fill=INK)
    draw.text((40, 295), f"주문번호 {order_id}", font=font(40), fill=INK)
    if with_times:
        draw.text((40, 350), "문의일시 2024.05.12 14:22", font=font(30), fill=GREY_INK)
    bubbles = [
        Bubble("안녕하세요. 주문한 상품이 아직 도착하지 않았습니다.", mine=False, time="2024.05.12 14:22"),
        Bubble("고객님, 불편을 드려 죄송합니다. 배송 조회 결과를 확인해 드리겠습니다.", mine=True, time="오후 2:25"),
        Bubble("상품은 5월 13일 배송완료 되었습니다. 현관 앞을 확인 부탁드립니다.", mine=True, time="오후 2:31"),
        Bubble("확인했습니다. 감사합니다.", mine=False, time="2024.05.13 09:05"),
    ]
    if not with_times:
        bubbles = [Bubble(b.text, b.mine, None) for b in bubbles]
    _bubbles(draw, bubbles, top=450, mine_fill=(225, 238, 255), theirs_fill=LIGHT)
    draw.rectangle((0, 1780, WIDTH, HEIGHT), fill=LIGHT)
    draw.text((40, 1820), "답변 입력", font=font(36), fill=GREY_INK)
    return png(image)


def wechat_chat(order_id: str | None = None, *, with_times: bool = True) -> bytes:
    """A WeChat (微信) chat with the buyer: green bubbles, a Chinese date between messages."""
    image, draw = _screen((237, 237, 237))
    _status_bar(draw, (237, 237, 237))
    draw.text((40, 95), "< 微信", font=font(44), fill=INK)
    draw.text((420, 95), "买家 王先生", font=font(44), fill=INK)
    draw.line((0, 180, WIDTH, 180), fill=(200, 200, 200), width=3)
    y = 220
    if with_times:
        stamp = "2024年5月12日 14:22"
        w = int(font(30).getlength(stamp))
        draw.text(((WIDTH - w) // 2, y), stamp, font=font(30), fill=GREY_INK)
        y += 70
    texts = [
        Bubble("你好，我的包裹还没收到。", mine=False),
        Bubble("您好，我帮您查一下物流信息。", mine=True),
    ]
    if order_id:
        texts.append(Bubble(f"订单号 {order_id}", mine=False))
    texts.append(Bubble("快递显示已签收，请您再确认一下。", mine=True))
    y = _bubbles(draw, texts, top=y, mine_fill=(149, 236, 105), theirs_fill=PAPER)
    if with_times:
        stamp = "2024年5月12日 15:03"
        w = int(font(30).getlength(stamp))
        draw.text(((WIDTH - w) // 2, y), stamp, font=font(30), fill=GREY_INK)
        y += 70
        _bubbles(draw, [Bubble("好的，谢谢。", mine=False)], top=y, mine_fill=(149, 236, 105), theirs_fill=PAPER)
    draw.rectangle((0, 1780, WIDTH, HEIGHT), fill=(247, 247, 247))
    draw.text((40, 1820), "发送消息", font=font(36), fill=GREY_INK)
    return png(image)


def kakao_chat(order_id: str | None = None, *, with_times: bool = True) -> bytes:
    """A KakaoTalk (카카오톡) chat: yellow bubbles, a Korean date line."""
    image, draw = _screen((186, 206, 224))
    _status_bar(draw, (186, 206, 224))
    draw.text((40, 95), "카카오톡 KakaoTalk", font=font(44), fill=INK)
    draw.text((40, 160), "구매자 김민수", font=font(36), fill=INK)
    y = 240
    if with_times:
        stamp = "2024년 5월 12일 오후 2:22"
        w = int(font(32).getlength(stamp))
        draw.rounded_rectangle(((WIDTH - w) // 2 - 20, y - 6, (WIDTH + w) // 2 + 20, y + 46), radius=20, fill=PAPER)
        draw.text(((WIDTH - w) // 2, y), stamp, font=font(32), fill=INK)
        y += 90
    texts = [
        Bubble("택배가 아직 안 왔어요.", mine=False, time="오후 2:22" if with_times else None),
        Bubble("확인해 보겠습니다. 잠시만 기다려 주세요.", mine=True, time="오후 2:24" if with_times else None),
    ]
    if order_id:
        texts.append(Bubble(f"주문번호 {order_id}", mine=False, time="오후 2:25" if with_times else None))
    _bubbles(draw, texts, top=y, mine_fill=(254, 229, 0), theirs_fill=PAPER)
    draw.rectangle((0, 1780, WIDTH, HEIGHT), fill=PAPER)
    draw.text((40, 1820), "메시지 입력", font=font(36), fill=GREY_INK)
    return png(image)


def tracking_page(
    status: str = "배송완료",
    *,
    order_id: str,
    tracking_number: str = "641234567890",
    recipient: str = "김민수",
    address: str = "서울특별시 강남구 테헤란로 152 3층",
    time: str = "2024.05.13 10:41",
) -> bytes:
    """A CJ대한통운-style parcel tracking page: waybill number, status, recipient, address, times."""
    image, draw = _screen(PAPER)
    _status_bar(draw, PAPER)
    draw.rectangle((0, 70, WIDTH, 200), fill=(0, 84, 166))
    draw.text((40, 100), "CJ대한통운 배송조회", font=font(50), fill=PAPER)
    y = 250
    rows = [
        ("운송장번호", tracking_number),
        ("주문번호", order_id),
        ("배송상태", status),
        ("수령인", recipient),
        ("주소", address),
        ("처리일시", time),
    ]
    for label, value in rows:
        draw.text((40, y), label, font=font(36), fill=GREY_INK)
        for i, line in enumerate(_wrap(value, 40, 700)):
            draw.text((320, y + i * 56), line, font=font(40), fill=INK)
        y += 56 * max(1, len(_wrap(value, 40, 700))) + 40
        draw.line((40, y - 20, WIDTH - 40, y - 20), fill=(220, 220, 220), width=2)
    y += 30
    draw.text((40, y), "배송 진행 상황", font=font(40), fill=INK)
    y += 80
    steps = [("2024.05.12 18:10", "집화처리"), ("2024.05.13 06:30", "배송출발")]
    if status in ("배송완료", "已签收"):
        steps.append((time, status))
    for when, what in steps:
        draw.ellipse((50, y + 10, 74, y + 34), fill=(0, 84, 166))
        draw.text((100, y), f"{when}  {what}", font=font(36), fill=INK)
        y += 80
    return png(image)


def drawn(order_id: str) -> dict[str, tuple[bytes, list[str]]]:
    """Every kind of screen, by name: its PNG and the words on it the checker looks for (times, the
    order id, status words, platform markers), which OCR must read (issue 22's recognition goal)."""
    address = "테헤란로 152 3층"
    return {
        "coupang_chat": (
            coupang_chat(order_id),
            [
                "2024.05.12 14:22",
                "오후 2:25",
                "오후 2:31",
                "2024.05.13 09:05",
                order_id,
                "쿠팡",
                "Coupang",
                "판매자센터",
            ],
        ),
        "coupang_chat_without_times": (
            coupang_chat(order_id, with_times=False),
            [order_id, "쿠팡", "Coupang", "판매자센터", "배송완료"],
        ),
        "wechat_chat": (
            wechat_chat(order_id),
            ["2024年5月12日 14:22", "2024年5月12日 15:03", order_id, "微信", "已签收"],
        ),
        "kakao_chat": (
            kakao_chat(order_id),
            ["2024년 5월 12일 오후 2:22", "오후 2:22", "오후 2:24", "오후 2:25", order_id, "카카오톡", "KakaoTalk"],
        ),
        "tracking_in_transit": (
            tracking_page("배송중", order_id=order_id),
            ["배송중", order_id, "641234567890", "2024.05.13 10:41", "김민수", address],
        ),
        "tracking_delivered": (
            tracking_page("배송완료", order_id=order_id),
            ["배송완료", order_id, "641234567890", "2024.05.13 10:41", "김민수", address],
        ),
        "tracking_signed_for": (
            tracking_page("已签收", order_id=order_id),
            ["已签收", order_id, "2024.05.13 10:41"],
        ),
    }


def missing(words: list[str], text: str) -> list[str]:
    """The words not in `text` (whitespace runs compared as one space)."""
    spaced = " ".join(text.split())
    return [w for w in words if w not in spaced]
