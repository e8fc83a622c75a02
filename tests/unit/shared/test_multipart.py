"""shared.web.multipart: the one streaming multipart reader, fed real bodies in every chunking."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import pytest

from shared.web.multipart import MalformedMultipart, MultipartReader, Part, PartHeadersTooLarge

BOUNDARY = b"----dd-boundary-7MA4YWxkTrZu0gW"


def _part(name: str | None, data: bytes, *, filename: str | None = None, content_type: str | None = None) -> bytes:
    disposition = b"form-data"
    if name is not None:
        disposition += b'; name="' + name.encode() + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename.encode() + b'"'
    head = b"Content-Disposition: " + disposition + b"\r\n"
    if content_type is not None:
        head += b"Content-Type: " + content_type.encode() + b"\r\n"
    return b"--" + BOUNDARY + b"\r\n" + head + b"\r\n" + data + b"\r\n"


def _body(*parts: bytes, close: bool = True) -> bytes:
    return b"".join(parts) + (b"--" + BOUNDARY + b"--\r\n" if close else b"")


async def _stream(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def _chunked(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


async def _read_all(reader: MultipartReader) -> list[tuple[str, str | None, str | None, bytes]]:
    parts = []
    async for part in reader:
        data = b"".join([chunk async for chunk in part])
        parts.append((part.name, part.filename, part.content_type, data))
    return parts


def _reader(chunks: Iterable[bytes], **limits: int) -> MultipartReader:
    return MultipartReader(_stream(chunks), BOUNDARY, **limits)


# A file whose bytes look like the boundary's start, so a split inside them must not end the part.
FILE = b"id,amount\r\n--" + BOUNDARY[:10] + b"\r\n1,45000\r\n" + bytes(range(256))
BODY = _body(
    _part("meta", b'{"kind": "receipt"}'),
    _part("file", FILE, filename="disputes.csv", content_type="text/csv; charset=utf-8"),
)
EXPECTED = [
    ("meta", None, None, b'{"kind": "receipt"}'),
    ("file", "disputes.csv", "text/csv; charset=utf-8", FILE),
]


async def test_parts_come_with_their_name_filename_type_and_bytes() -> None:
    assert await _read_all(_reader([BODY])) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 7, 13, 64, 100])
async def test_boundaries_and_headers_split_across_chunks_read_the_same(size: int) -> None:
    assert await _read_all(_reader(_chunked(BODY, size))) == EXPECTED


async def test_every_split_point_of_the_body_reads_the_same() -> None:
    for at in range(1, len(BODY)):
        assert await _read_all(_reader([BODY[:at], BODY[at:]])) == EXPECTED, at


async def test_a_parts_data_comes_as_the_body_arrives_one_piece_per_chunk() -> None:
    data = b"x" * 3000
    body = _body(_part("file", data))
    chunks = _chunked(body, 1000)
    reader = _reader(chunks)
    async for part in reader:
        pieces = [piece async for piece in part]
        assert b"".join(pieces) == data
        assert 3 <= len(pieces) <= len(chunks)
        assert all(len(piece) <= 1000 for piece in pieces)


async def test_two_parts_of_one_name_are_both_given_to_the_caller() -> None:
    body = _body(_part("file", b"a"), _part("file", b"b"))
    assert [(name, data) for name, _, _, data in await _read_all(_reader([body]))] == [("file", b"a"), ("file", b"b")]


async def test_a_part_left_unread_is_skipped() -> None:
    body = _body(_part("skip", b"s" * 5000), _part("keep", b"kept"))
    names = []
    async for part in _reader(_chunked(body, 700)):
        names.append(part.name)
        if part.name == "keep":
            assert b"".join([chunk async for chunk in part]) == b"kept"
    assert names == ["skip", "keep"]


async def test_an_empty_part_has_no_data() -> None:
    assert await _read_all(_reader([_body(_part("file", b"", filename="empty.csv"))])) == [
        ("file", "empty.csv", None, b"")
    ]


async def test_a_body_of_only_the_closing_boundary_has_no_parts() -> None:
    assert await _read_all(_reader([b"--" + BOUNDARY + b"--\r\n"])) == []


async def test_nothing_after_the_closing_boundary_is_read() -> None:
    async def stream() -> AsyncIterator[bytes]:
        yield BODY
        raise AssertionError("the epilogue was read")

    assert await _read_all(MultipartReader(stream(), BOUNDARY)) == EXPECTED


# ---- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("boundary", [b"", b"x" * 71])
def test_no_boundary_or_one_over_70_characters_is_refused_before_reading(boundary: bytes) -> None:
    async def stream() -> AsyncIterator[bytes]:
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover

    with pytest.raises(MalformedMultipart, match="boundary"):
        MultipartReader(stream(), boundary)


def test_a_boundary_of_70_characters_is_fine() -> None:
    MultipartReader(_stream([]), b"b" * 70)


@pytest.mark.parametrize("cut", [0, 10, len(BODY) // 2, len(BODY) - 10])
async def test_a_body_that_ends_before_its_closing_boundary_is_malformed(cut: int) -> None:
    with pytest.raises(MalformedMultipart, match="ends before its closing boundary"):
        await _read_all(_reader(_chunked(BODY[:cut], 5)))


async def test_a_body_without_its_closing_boundary_is_malformed_even_after_whole_parts() -> None:
    reader = _reader([_body(_part("meta", b"{}"), close=False)])
    parts = reader.__aiter__()
    part = await parts.__anext__()
    assert part.name == "meta"
    with pytest.raises(MalformedMultipart, match="ends before its closing boundary"):
        [chunk async for chunk in part]


async def test_a_body_that_is_not_multipart_is_malformed() -> None:
    with pytest.raises(MalformedMultipart):
        await _read_all(_reader([b"id,amount\r\n1,45000\r\n" * 10]))


async def test_a_part_without_a_name_is_malformed() -> None:
    with pytest.raises(MalformedMultipart, match="no name"):
        await _read_all(_reader([_body(_part(None, b"x"))]))


async def test_a_part_that_is_not_form_data_is_malformed() -> None:
    body = b"--" + BOUNDARY + b'\r\nContent-Disposition: attachment; name="file"\r\n\r\nx\r\n--' + BOUNDARY + b"--\r\n"
    with pytest.raises(MalformedMultipart, match="not form-data"):
        await _read_all(_reader([body]))


def _headers_part(headers: list[bytes]) -> bytes:
    head = b'Content-Disposition: form-data; name="file"\r\n' + b"".join(h + b"\r\n" for h in headers)
    return b"--" + BOUNDARY + b"\r\n" + head + b"\r\nx\r\n"


@pytest.mark.parametrize(
    "headers",
    [
        [b"X-Long: " + b"a" * 2000],  # one line over the limit
        [b"X-Pad-%d: " % i + b"a" * 200 for i in range(6)],  # lines under it, the block over it
        [b"X-N-%d: 1" % i for i in range(10)],  # more lines than allowed
    ],
    ids=["one-line", "whole-block", "too-many-lines"],
)
async def test_a_part_header_over_the_limit_is_refused(headers: list[bytes]) -> None:
    body = _body(_headers_part(headers))
    with pytest.raises(PartHeadersTooLarge) as refused:
        await _read_all(_reader(_chunked(body, 100), max_header_bytes=1024, max_headers=8))
    assert refused.value.data == {"limit": 1024}
    assert refused.value.code == "part_headers_too_large"


async def test_megabytes_of_header_are_refused_without_reading_them_all() -> None:
    read = 0

    async def stream() -> AsyncIterator[bytes]:
        nonlocal read
        yield b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"\r\nX-Junk: '
        for _ in range(1000):
            read += 1
            yield b"a" * 1024

    with pytest.raises(PartHeadersTooLarge, match="over 16 KB"):
        await _read_all(MultipartReader(stream(), BOUNDARY))
    assert read <= 17


async def test_headers_at_the_limit_are_fine() -> None:
    body = _body(_headers_part([b"X-Pad-%d: " % i + b"a" * 100 for i in range(7)]))
    parts = await _read_all(_reader([body], max_header_bytes=1024, max_headers=8))
    assert [name for name, *_ in parts] == ["file"]


async def test_the_data_before_a_refusal_reaches_the_caller_first() -> None:
    """The caller's own refusal of an earlier part (a size limit) wins over a later malformed one."""
    body = _part("file", b"x" * 500) + _part(None, b"y")
    seen: list[Part] = []
    reader = _reader([body])
    parts = reader.__aiter__()
    first = await parts.__anext__()
    seen.append(first)
    assert b"".join([chunk async for chunk in first]) == b"x" * 500
    with pytest.raises(MalformedMultipart, match="no name"):
        await parts.__anext__()
    with pytest.raises(MalformedMultipart, match="no name"):  # and the reader stays refused
        await _read_all(reader)
    assert [part.name for part in seen] == ["file"]
