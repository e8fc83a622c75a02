"""Compiled patterns for personal data inside free text (used by shared/masking.py).

Only regexes live here; what to replace a match with is masking.py's business. Every
repeat is bounded, so hostile text (a buyer-written dispute reason) is refused in linear
time. Text is NFKC-normalised before these run, so full-width digits and colons are ASCII.
"""

from __future__ import annotations

import re

# Hyphen-like characters people paste between digits: -, hyphen, non-breaking hyphen,
# figure dash, en dash, em dash, horizontal bar, minus sign.
DASH = "[-\u2010\u2011\u2012\u2013\u2014\u2015\u2212]"

# Digits or "-<digit>" around a number mean it is part of something longer (an order id, a
# UUID, "CD-2026-000123"). Letters before it are fine: "tel010-1234-5678", "hp:010...".
_START = rf"(?<![0-9_+])(?<![A-Za-z0-9]{DASH})"
_END = rf"(?![A-Za-z0-9_])(?!{DASH}\d)"
_SEP = rf"(?:\s?{DASH}\s?|[. ])?"

DIGIT = re.compile(r"\d")
EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])([A-Za-z0-9._%+\-]+)@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})")

# Resident registration number: YYMMDD-GNNNNNN, G (sex/century) 1-8, with any dash and
# stray spaces around it. The dash is required: 13 bare digits is what an order id looks like.
RRN = re.compile(_START + rf"\d{{6}}\s?{DASH}\s?[1-8]\d{{6}}" + _END)

# Chinese resident identity number: 6-digit region, YYYYMMDD, 3-digit sequence, check digit
# (0-9 or X). masking.py also verifies the ISO 7064 check digit, so an 18-digit id of ours
# is left alone unless it happens to look like a date and pass the checksum.
CN_ID = re.compile(
    r"(?<![0-9])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx](?![0-9])"
)

# Korean mobile (010, 011, 016-019), domestic or +82 / 0082.
KR_MOBILE = re.compile(
    _START
    + rf"(?P<head>(?:(?:\+|00)82{_SEP}(?:\(0\))?0?1[016789])|01[016789])"
    + rf"(?P<sep1>{_SEP})(?P<mid>\d{{3,4}})(?P<sep2>{_SEP})(?P<last>\d{{4}})"
    + _END
)
# Korean landline (02 Seoul, 031-064 regions, 070 VoIP). Separators are required, as ten
# bare digits starting with 0 are too common to be sure of.
_LAND_SEP = rf"(?:\s?{DASH}\s?|[. ])"
KR_LANDLINE = re.compile(
    _START
    + rf"(?P<head>(?:(?:\+|00)82{_LAND_SEP}?)?0?(?:2|[3-6][1-5]|70))"
    + rf"(?P<sep1>{_LAND_SEP})(?P<mid>\d{{3,4}})(?P<sep2>{_LAND_SEP})(?P<last>\d{{4}})"
    + _END
)
# Chinese mobile: 1[3-9]X XXXX XXXX, optionally +86 / 0086.
CN_MOBILE = re.compile(
    _START
    + rf"(?P<head>(?:(?:\+|00)86{_SEP})?1[3-9]\d)"
    + rf"(?P<sep1>{_SEP})(?P<mid>\d{{4}})(?P<sep2>{_SEP})(?P<last>\d{{4}})"
    + _END
)
PHONES = (KR_MOBILE, KR_LANDLINE, CN_MOBILE)

# Korean addresses. Road-name: "[시/도 구 ...] 테헤란로 123[, 4층 401호]", "강남대로94길 45".
# Lot: "역삼동 123-4", "신천리 45번지", or "<구> 역삼동 123". A building number followed by
# a counter word ("사유로 3건") is a count, not an address.
_HANGUL = "가-힣"
_ADMIN = rf"(?:[{_HANGUL}]{{1,10}}(?:특별자치시|특별자치도|특별시|광역시|시|도|군|구|읍|면)\s+)"
_NOT_A_COUNT = (
    rf"(?![0-9\-])(?!\s?(?:건|개|원|명|회|번째|차례|차|%|초|분|시간|일|주|개월|년|월|배|위|점|등|kg|g)(?![{_HANGUL}]))"
)
_DETAIL = (
    rf"(?:\s*,?\s*(?:(?:지하|B)\s?)?\d{{1,5}}\s?(?:층|호|동)(?![{_HANGUL}])"  # 4층, 401호, 101동
    rf"|\s*\([{_HANGUL}A-Za-z0-9 ,.\-]{{1,40}}\))"  # (역삼동, 아이파크)
)
# "을지로3가" is a neighbourhood, not "을지로 3": no Hangul right after the number.
_ROAD = rf"[{_HANGUL}][{_HANGUL}0-9]{{0,20}}(?<!으)(?:로|길)\s?\d{{1,5}}(?:-\d{{1,5}})?(?![{_HANGUL}])" + _NOT_A_COUNT
_LOT_NAME = rf"[{_HANGUL}][{_HANGUL}0-9]{{0,20}}(?:동|리|가)\s?"
_LOT = (
    rf"(?:{_ADMIN}{{1,4}}{_LOT_NAME}\d{{1,5}}(?:-\d{{1,5}})?(?:\s?번지)?" + _NOT_A_COUNT + ")"
    rf"|(?:{_LOT_NAME}\d{{1,5}}(?:-\d{{1,5}}|\s?번지))"
)
KR_ADDRESS = re.compile(rf"(?<![{_HANGUL}0-9])(?:{_ADMIN}{{0,4}}{_ROAD}|{_LOT}){_DETAIL}{{0,4}}")

# Romanised Korean addresses: "123 Teheran-ro, Gangnam-gu, Seoul", "Gangnam-daero 94-gil 45",
# "Yeoksam-dong 123-4". A road or lot needs a number next to it; the district and city
# after it go with it. "Gangnam-gu, Seoul" alone is a district, not an address.
_R_NUM = r"\d{1,5}(?:-\d{1,5})?"
_R_WORD = r"[a-z][a-z0-9]{0,25}(?:-[a-z0-9]{1,25}){0,3}"
_R_ROAD = rf"{_R_WORD}-(?:daero|ro|gil)(?:\s?\d{{1,4}}(?:beon)?-?gil)?"
_R_LOT = rf"{_R_WORD}-(?:dong|ri|ga)"
_R_TAIL = (
    rf"(?:,?\s{{1,3}}(?:{_R_WORD}-(?:gu|si|gun|dong|eup|myeon|do|ri)"
    r"|seoul|busan|incheon|daegu|daejeon|gwangju|ulsan|sejong|jeju|gyeonggi"
    r"|(?:south\s)?korea|republic\sof\skorea|\d{5})){0,6}"
)
ROMAN_ROAD_HINT = re.compile(r"-(?:daero|ro|gil|dong|ri|ga)(?![a-z])", re.IGNORECASE)  # cheap pre-check
ROMAN_KR_ADDRESS = re.compile(
    rf"(?<![a-z0-9])(?:{_R_NUM},?\s{{1,3}}(?:{_R_ROAD}|{_R_LOT})(?:\s{{1,3}}{_R_NUM})?"
    rf"|(?:{_R_ROAD}|{_R_LOT})\s{{1,3}}{_R_NUM}(?![0-9]))"
    rf"{_R_TAIL}",
    re.IGNORECASE,
)

# Chinese addresses: "浙江省杭州市西湖区文三路 90 号 3 幢 201 室". A road (路, 街, 巷, ...) with a
# number is the address; the province, city and district before it go with it. Names may
# not contain the suffix characters, so each level matches one way only (no backtracking
# blow-up on "市市市...").
_CJK = "\u4e00-\u9fff"
_CN_NAME = rf"(?:(?![省市区县旗镇乡]|街道)[{_CJK}]){{1,8}}"
_CN_ADMIN = rf"(?:{_CN_NAME}(?:省|市|区|县|旗|镇|乡|街道)\s?)"
_CN_ROAD = rf"(?:(?![省市区县旗镇乡路街道巷弄号]|胡同)[{_CJK}0-9]){{1,12}}(?:大道|大街|路|街|道|巷|弄|胡同)"
_CN_NUMBER = r"\s?\d{1,5}(?:-\d{1,5})?\s?[号號]"
_CN_DETAIL = r"(?:\s?[0-9A-Za-z]{1,5}\s?(?:号楼|栋|幢|座|单元|层|楼|室|号|號))"
CN_ROAD_CHARS = frozenset("路街道巷弄同")  # one of them must be in the text for CN_ADDRESS to match
CN_ADDRESS = re.compile(rf"{_CN_ADMIN}{{0,5}}{_CN_ROAD}{_CN_NUMBER}{_CN_DETAIL}{{0,5}}")

# Names we can recognise without a key: a Hangul or Chinese name before an honorific
# ("김민수 고객님", "王小明先生"), an English one after a title ("Mr. John Smith").
KR_HONORIFIC_NAME = re.compile(
    rf"(?<![{_HANGUL}])(?!고객)([{_HANGUL}]{{2,4}})(?=\s?(?:고객님|고객|님|씨)(?![{_HANGUL}]))"
)
CN_HONORIFIC_NAME = re.compile(rf"([{_CJK}]{{2,3}})(?=先生|女士|小姐)")
EN_TITLED_NAME = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?\s([A-Z][a-z]{1,20}(?:\s[A-Z][a-z]{1,20}){0,2})")

# A person word followed by a name, no "key:" punctuation needed: "buyer John Smith",
# "recipient 王小明", "구매자 김민수", "收件人王小明".
PERSON_WORDS_EN = r"buyer|recipient|consignee|receiver|customer|addressee|orderer"
PERSON_WORDS_CJK = r"收件人|收货人|联系人|姓名|구매자|수령인|수취인|받는\s?분|주문자|고객명|이름|성명"
# Words that follow a person word as a label, not a name: "구매자 연락처", "收件人电话".
_LABELS = r"연락처|주소|전화|휴대폰|이름|성명|정보|번호|요청|확인|문의|고객|电话|地址|手机|姓名|信息"
PERSON_THEN_NAME = re.compile(
    rf"(?P<lead>(?<![A-Za-z_])(?:{PERSON_WORDS_EN})(?![A-Za-z_])\s{{1,3}}|(?:{PERSON_WORDS_CJK})\s{{0,3}})"
    rf"(?!{_LABELS})(?P<name>[{_HANGUL}]{{2,5}}(?![{_HANGUL}])|[{_CJK}]{{2,4}}|[A-Z][a-z]{{1,20}}(?:\s[A-Z][a-z]{{1,20}}){{0,2}})"
)

# A name at the start of a contact value: "김민수 010-1234-5678", "John Smith <j@x.com>".
LEADING_NAME = re.compile(
    rf"^\s*([{_HANGUL}]{{2,5}}|[{_CJK}]{{2,4}}|[A-Z][a-z]{{1,20}}(?:\s[A-Z][a-z]{{1,20}}){{0,2}})(?=\s|$)"
)

# "key: value", "key=value", "'key': 'value'" inside text (a dict's repr, an exception
# message, a URL query). masking.py decides from the key whether the value is personal.
KEYED_VALUE = re.compile(
    r"""(?<![A-Za-z0-9_\-])(?P<key>(?P<kq>['"]?)(?P<name>[A-Za-z_][A-Za-z0-9_\-]{0,40}|"""
    + PERSON_WORDS_CJK
    + r"""|地址|收货地址|电话|手机号?|身份证号?|주소|배송지|연락처|전화번호|휴대폰|핸드폰|주민(?:등록)?번호)(?P=kq))"""
    r"""(?P<sep>\s{0,3}[:=]\s{0,3})"""
    r"""(?:(?P<vq>['"])(?P<qv>(?:\\.|(?!(?P=vq))[^\\\n]){0,300})(?P=vq)"""
    r"""|(?P<uv>(?![\s{\[(])(?:[^,;&()\]}'"\n]|\([^()\n]{0,40}\)){1,200}))"""
)

# pydantic's str(ValidationError): "[type=..., input_value=<repr>, input_type=str]", and
# the repr of .errors(): "{'type': ..., 'loc': ..., 'msg': ..., 'input': <repr>, 'ctx': ...}".
# pydantic shortens input_value to some 50 characters, so a short scan finds input_type.
PYDANTIC_INPUT_VALUE = re.compile(r"input_value=[^\n]{0,300}?, input_type=")
ERRORS_INPUT = re.compile(r"""(['"])input\1: [^\n]{0,2000}?(?=, (['"])(?:ctx|url)\2: |\}(?:, \{|\]|\)|$))""")

# PostgreSQL echoes values in its errors: "Key (buyer_name)=(김민수) already exists.",
# "Failing row contains (7, 김민수, 010-1234-5678)." (asyncpg/SQLAlchemy pass them on).
PG_KEY_DETAIL = re.compile(
    r"Key \((?P<cols>[^()\n]{1,200})\)=\((?P<vals>[^\n]{0,1000}?)\)(?= already exists| is not present| conflicts|\.|$)"
)
PG_FAILING_ROW = re.compile(r"Failing row contains \([^\n]{0,4000}\)")

# Escaped text: "\uae40\ubbfc\uc218" (json.dumps, ascii repr) and b'\xea\xb9\x80' (bytes repr).
UNICODE_ESCAPES = re.compile(r"(?:\\u[0-9a-fA-F]{4}|\\U[0-9a-fA-F]{8})+")
BYTES_LITERAL = re.compile(r"""(?<![A-Za-z0-9_])b(['"])(?:\\.|(?!\1)[^\\\n]){0,4000}\1""")
