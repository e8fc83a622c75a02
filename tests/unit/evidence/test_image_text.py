"""What the checker reads in a screenshot's OCR text (issue 22): parsing only, OcrRead values built here."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.evidence.checker.image_text import ImageText, clean, id_key, read_image
from services.evidence.checker.model import OcrLine, OcrRead
from services.evidence.checker.ruleset import load_ruleset

ORDER = "3000987650001"


def screen(*texts: str, confidence: float = 92.0, height: int | None = 1920) -> ImageText:
    """Lines top to bottom, 60 px apart, as Tesseract gives them (text, confidence, box)."""
    lines = tuple(OcrLine(t, confidence, (40, 100 + 60 * n, 800, 44)) for n, t in enumerate(texts))
    return read_image(OcrRead("\n".join(texts), confidence, lines), load_ruleset(), height=height)


def shown(image: ImageText) -> list[str]:
    return [m.shown for m in image.moments]


# --- dates and times -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("2024.05.12 14:22", "2024-05-12 14:22"),
        ("2024-05-12 14:22", "2024-05-12 14:22"),
        ("2024/05/12 14:22", "2024-05-12 14:22"),
        ("2024. 5. 12. 오후 2:22", "2024-05-12 14:22"),
        ("2024년 5월 12일 오후 2:22", "2024-05-12 14:22"),
        ("2024년 5월 12일 오전 9:05", "2024-05-12 09:05"),
        ("2024년 5월 12일 14시 22분", "2024-05-12 14:22"),
        ("2024年5月12日 14:22", "2024-05-12 14:22"),
        ("2024年5月12日 下午2:22", "2024-05-12 14:22"),
        ("문의일시 2024.05.12 14:22", "2024-05-12 14:22"),
        ("처리일시 2024.05.13 10:41  배송완료", "2024-05-13 10:41"),
    ],
)
def test_a_visible_date_and_time_in_korean_chinese_and_iso_forms(line, expected):
    image = screen(line)
    assert shown(image) == [expected]
    assert image.moments[0].seen.text == line and image.moments[0].seen.box == (40, 100, 800, 44)
    assert image.moments[0].at == datetime.fromisoformat(expected)  # naive: the screen wrote no zone


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("２０２４年５月１２日　１４：２２", "2024-05-12 14:22"),  # full-width digits, colon and space
        ("2024.05.12 14.22", "2024-05-12 14:22"),  # ':' read as '.'
        ("2024.05.12 14;22", "2024-05-12 14:22"),  # ':' read as ';'
        ("2024.05.12 14 : 22", "2024-05-12 14:22"),
        ("20 24.05.12 1 4:2 2", "2024-05-12 14:22"),  # spaces inside numbers
        ("2024.O5.12 1O:22", "2024-05-12 10:22"),  # O for 0 among digits
        ("2024 년 5 월 12 일 오후 2 : 22", "2024-05-12 14:22"),
        ("원시 2024.05.12 1422", "2024-05-12 14:22"),  # ':' lost after a date
        ("2024.05.12 14 22", "2024-05-12 14:22"),
        ("2024년 5월 12일 오후 2 22", "2024-05-12 14:22"),  # ... or after a meridiem
    ],
)
def test_ocr_noise_is_forgiven(line, expected):
    assert shown(screen(line)) == [expected]


def test_a_time_alone_takes_the_date_header_above_it():
    image = screen("2024년 5월 12일 일요일", "택배가 아직 안 왔어요.", "오후 2:22", "확인해 볼게요", "14:40")
    assert shown(image) == ["2024-05-12 14:22", "2024-05-12 14:40"]
    assert image.latest is not None and image.latest.shown == "2024-05-12 14:40"
    assert image.latest.seen.text == "14:40"


def test_a_time_alone_under_a_dated_time_is_of_that_day():
    assert shown(screen("2024.05.12 14:22", "오후 2:25")) == ["2024-05-12 14:22", "2024-05-12 14:25"]


def test_a_date_inside_a_message_is_no_header():
    image = screen("2024년 5월 12일", "오후 2:25", "상품은 5월 13일 배송완료 되었습니다.", "오후 2:31")
    assert shown(image) == ["2024-05-12 14:25", "2024-05-12 14:31"]


@pytest.mark.parametrize(
    "header", ["2024년 5월 12일 일요일", "2024年5月12日 星期日", "2024.05.12 (일)", "Sunday, May 12, 2024"]
)
def test_date_headers_with_a_weekday(header):
    assert shown(screen(header, "오후 2:22")) == ["2024-05-12 14:22"]


def test_a_header_without_year_gives_a_time_but_no_instant():
    image = screen("5월 12일 (일)", "오후 2:22")
    assert shown(image) == ["05-12 14:22"]
    assert image.moments[0].at is None
    assert image.latest is image.moments[0]


def test_a_written_zone_is_kept():
    [moment] = screen("2024-05-12 14:22 KST").moments
    assert moment.at == datetime(2024, 5, 12, 14, 22, tzinfo=timezone(timedelta(hours=9)))


def test_boxes_give_the_reading_order():
    lines = (
        OcrLine("오후 2:22", 90, (60, 500, 200, 40)),
        OcrLine("2024년 5월 12일", 90, (400, 300, 300, 40)),
    )
    image = read_image(OcrRead("", 90, lines), load_ruleset(), height=1920)
    assert shown(image) == ["2024-05-12 14:22"]


@pytest.mark.parametrize(
    "lines",
    [
        ("14:30",),  # a status bar's clock: no date anywhere above it
        ("14:30", "2024년 5월 12일"),  # a date under the time, none above it
        ("2024.05.12",),  # a date alone
        ("32.90",),  # a price, not 32:90
        ("12.50 USD", "2024.05.12"),
        ("주문번호 3000987650001",),
        ("배송완료 5월 13일",),
        ("25:61", "2024.13.40 10:00"),  # no such time, no such date
        ("1430", "2024.05.12 2561"),  # a status bar's clock without its colon; no such time
        ("",),
    ],
)
def test_no_date_and_time(lines):
    assert screen(*lines).moments == ()


def test_a_dot_is_a_colon_only_where_a_time_stands():
    assert clean("2024.05.12") == "2024.05.12"
    assert clean("오후 2.22") == "오후 2:22"
    assert clean("14.22") == "14:22"  # alone on its line: a bubble's time
    assert clean("가격 12.50") == "가격 12.50"
    assert clean("3.14 입니다") == "3.14 입니다"


# --- markers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line", ["쿠팡 Coupang", "쿠 팡", "COUPANG", "쿠팡 판매자센터", "Coupang Wing", "고객문의 상세"]
)
def test_coupang_markers(line):
    assert screen(line).coupang


@pytest.mark.parametrize("line", ["Coupangs", "following the parcel", "배송 조회", "쿠키"])
def test_not_coupang(line):
    assert screen(line).coupang == ()


@pytest.mark.parametrize(
    ("line", "source"),
    [
        ("< 微信", "wechat"),
        ("WeChat", "wechat"),
        ("微 信", "wechat"),
        ("WhatsApp", "whatsapp"),
        ("카카오톡 KakaoTalk", "kakaotalk"),
        ("카카오톡", "kakaotalk"),
    ],
)
def test_other_messengers_markers(line, source):
    assert {s.value for s in screen(line, "안녕하세요").messengers} == {source}


def test_a_messenger_named_inside_a_coupang_chat_message_does_not_count():
    middle = [
        "쿠팡 판매자센터",
        *["..."] * 10,
        "혹시 카카오톡으로 연락 주실 수 있나요? 사진을 보내고 싶어요",
        *["..."] * 10,
    ]
    assert screen(*middle).messengers == ()
    assert screen(*middle[1:]).messengers  # without Coupang on screen, it counts
    # in the title bar it always counts
    assert screen("카카오톡", "쿠팡에서 산 물건이요", *["..."] * 20).messengers


# --- order ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "주문번호 3000987650001",
        "주문번호: 3000-9876-50001",
        "订单号 3000 9876 50001",
        "Order ID #3000987650001",
        "3OOO98765OOO1",
    ],
)
def test_the_case_order_id_is_seen_despite_spaces_dashes_and_letters(line):
    image = screen("쿠팡", line)
    assert image.shows_order(ORDER) is not None and image.shows_order(ORDER).text == line
    assert image.other_order(ORDER) is None


def test_another_order_id_next_to_an_order_label():
    image = screen("주문번호 3000987650002")
    assert image.shows_order(ORDER) is None
    other = image.other_order(ORDER)
    assert other is not None and other.value == "3000987650002" and other.text == "주문번호 3000987650002"


def test_an_order_label_with_its_id_beside_it_on_the_same_row():
    lines = (OcrLine("주문번호", 90, (40, 300, 150, 36)), OcrLine("3100000000009", 90, (320, 296, 400, 44)))
    image = read_image(OcrRead("", 90, lines), load_ruleset(), height=1920)
    assert [s.value for s in image.order_ids] == ["3100000000009"]


@pytest.mark.parametrize("line", ["운송장번호 641234567890", "010-1234-5678", "주문번호 확인", "2024.05.12 14:22"])
def test_numbers_that_are_not_order_ids(line):
    assert screen(line).other_order(ORDER) is None


def test_id_key():
    assert id_key("3000-9876 5OOO1") == "3000987650001"
    assert id_key("주문번호: 3000987650001") == "3000987650001"


# --- tracking page: status, recipient, address --------------------------------------------------


@pytest.mark.parametrize(
    ("line", "status"),
    [
        ("배송완료", "delivered"),
        ("배송 완료", "delivered"),
        ("已签收", "delivered"),
        ("Delivered", "delivered"),
        ("배송중", "in_transit"),
        ("运输中", "in_transit"),
        ("In transit", "in_transit"),
        ("배송출발", "out_for_delivery"),
        ("派送中", "out_for_delivery"),
        ("집화처리", "shipped"),
        ("已发货", "shipped"),
    ],
)
def test_tracking_statuses(line, status):
    image = screen(line)
    assert [s.value for s in image.statuses] == [status]
    assert image.best_status(load_ruleset().image_text["status_rank"]).value == status


@pytest.mark.parametrize("line", ["未签收", "배송완료 예정일 5월 13일", "Not delivered", "undelivered"])
def test_negated_statuses_are_not_delivered(line):
    assert "delivered" not in {s.value for s in screen(line).statuses}


def test_the_labelled_status_is_the_current_one_else_the_furthest():
    rank = load_ruleset().image_text["status_rank"]
    page = screen("배송상태 배송중", "2024.05.12 18:10 집화처리", "2024.05.13 06:30 배송출발")
    assert page.best_status(rank).value == "in_transit"
    assert page.best_status(rank).text == "배송상태 배송중"
    history = screen("2024.05.12 18:10 집화처리", "2024.05.13 06:30 배송출발", "2024.05.13 10:41 배송완료")
    assert history.best_status(rank).value == "delivered"


def test_recipient_and_full_address():
    image = screen("수령인 김민수", "주소 서울특별시 강남구 테헤란로 152 3층")
    assert image.recipient is not None and image.recipient.value == "김민수"
    assert image.address is not None and image.address.text == "주소 서울특별시 강남구 테헤란로 152 3층"


def test_an_address_wrapped_over_two_lines_and_a_label_beside_its_value():
    lines = (
        OcrLine("수령인", 90, (40, 300, 120, 36)),
        OcrLine("김민수", 90, (320, 296, 160, 44)),
        OcrLine("서울특별시 강남구 테헤란로 152", 90, (320, 400, 600, 44)),
        OcrLine("3층 302호", 90, (320, 456, 300, 44)),
    )
    image = read_image(OcrRead("", 90, lines), load_ruleset(), height=1920)
    assert image.recipient is not None and image.recipient.value == "김민수"
    assert image.address is not None


@pytest.mark.parametrize("line", ["주소 서울특별시 강남구 테헤란로 152", "주소 3층", "수령인"])
def test_no_full_address_or_recipient(line):
    image = screen(line)
    assert image.address is None and image.recipient is None


# --- confidence and plain text ---------------------------------------------------------------------


def test_confidence_and_nothing_read():
    minimum = load_ruleset().limits["ocr_min_confidence"]
    assert screen("쿠팡").confident(minimum)
    assert not screen("쿠팡", confidence=31).confident(minimum)
    empty = read_image(OcrRead("", 0.0), load_ruleset())
    assert not empty.read and not empty.confident(minimum)
    assert not screen("~ .. |", confidence=95).read  # marks without a letter or digit: nothing was read


def test_text_without_lines_is_read_line_by_line():
    image = read_image(OcrRead("2024년 5월 12일\n오후 2:22\n주문번호 3000987650001", 88.0), load_ruleset())
    assert shown(image) == ["2024-05-12 14:22"]
    assert image.shows_order(ORDER) is not None and image.shows_order(ORDER).box is None
