"""One streaming `multipart/form-data` reader for every upload: its parts as they arrive, bounded.

A service reads an upload as::

    reader = MultipartReader(request.stream(), boundary, max_header_bytes=16 * 1024, max_headers=32)
    async for part in reader:          # name, filename, content_type, as the part's headers say
        async for data in part:        # the part's bytes, one chunk per chunk of the body
            ...

The body is never held in memory: python-multipart's callback parser is fed one chunk of the
stream at a time, and what it found in that chunk (a part's headers, its data, its end) is handed
on in order before the next chunk is read. A part's data left unread is skipped when the next part
is asked for. After the closing boundary nothing more of the stream is read (an epilogue means
nothing, RFC 2046).

This module decides only what multipart itself requires; the caller keeps its own policy (which
part names, how many of each, how many bytes, where the bytes go) and raises its own errors for
it, e.g. a second part of one name is the caller's to refuse. The refusals here:

- `MalformedMultipart` (400 `malformed_multipart`): no boundary or one over 70 characters, a body
  that is not multipart or ends before its closing boundary, a part that is not `form-data` or has
  no `name`;
- `PartHeadersTooLarge` (400 `part_headers_too_large`): one part's header block over
  `max_header_bytes` (also any one line of it), or over `max_headers` lines.

They are `DomainError`s; each service that reads multipart maps them in its problem table.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, TypeAlias

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from shared.errors import DomainError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks  # a TypedDict the library only declares for type checkers

__all__ = [
    "MAX_BOUNDARY_LENGTH",
    "MalformedMultipart",
    "MultipartReader",
    "Part",
    "PartHeadersTooLarge",
]

MAX_BOUNDARY_LENGTH: Final = 70  # RFC 2046 section 5.1.1


class MalformedMultipart(DomainError):
    """A multipart body that cannot be read, or a part the caller does not take (its own detail)."""

    code = "malformed_multipart"


class PartHeadersTooLarge(DomainError):
    """One part's header block over the reader's `max_header_bytes`, or over `max_headers` lines."""

    code = "part_headers_too_large"


@dataclass(eq=False)
class Part:
    """One part of the body; iterate it for its bytes (only while it is the reader's current part)."""

    name: str
    filename: str | None
    content_type: str | None  # as sent (the header's value, stripped)
    _reader: MultipartReader = field(repr=False)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._reader._data_of(self)


class _PartEnd:
    pass


class _BodyEnd:
    pass


_PART_END: Final = _PartEnd()
_BODY_END: Final = _BodyEnd()

_Event: TypeAlias = Part | list[bytes] | _PartEnd | _BodyEnd | DomainError


@dataclass
class _Headers:
    """The header block of the part being parsed, kept only until its headers are finished."""

    key: bytearray = field(default_factory=bytearray)
    value: bytearray = field(default_factory=bytearray)
    size: int = 0
    name: str | None = None
    filename: str | None = None
    content_type: str | None = None


class MultipartReader:
    """The parts of one multipart body read from `stream` (see the module docstring).

    The boundary is checked at once, so a caller can refuse it before reading anything; the
    stream is read only while the parts are iterated, and iterated once.
    """

    def __init__(
        self,
        stream: AsyncIterable[bytes],
        boundary: bytes,
        *,
        max_header_bytes: int = 16 * 1024,
        max_headers: int = 32,
    ) -> None:
        if not boundary or len(boundary) > MAX_BOUNDARY_LENGTH:
            raise MalformedMultipart("The multipart boundary is missing or over 70 characters.")
        self._max_header_bytes = max_header_bytes
        callbacks: MultipartCallbacks = {
            "on_part_begin": self._on_part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_end": self._on_end,
        }
        try:
            self._parser = MultipartParser(
                boundary, callbacks, max_header_count=max_headers, max_header_size=max_header_bytes
            )
        except FormParserError:
            raise MalformedMultipart("The multipart boundary is not usable.") from None
        self._stream = stream.__aiter__()
        self._events: deque[_Event] = deque()
        self._headers = _Headers()
        self._current: Part | None = None  # the part whose data the caller may read now
        self._broken: DomainError | None = None  # once raised, raised again: the parser is not resumable
        self._ended = False  # the closing boundary was parsed

    def __aiter__(self) -> AsyncIterator[Part]:
        return self._parts()

    # ---- what the caller iterates

    async def _parts(self) -> AsyncIterator[Part]:
        while True:
            if self._current is not None:
                async for _ in self._data_of(self._current):
                    pass  # the caller did not read it all: skipped
            event = await self._next()
            if isinstance(event, _BodyEnd):
                return
            assert isinstance(event, Part), event  # python-multipart ends a part before it begins one
            self._current = event
            yield event

    async def _data_of(self, part: Part) -> AsyncIterator[bytes]:
        while self._current is part:
            event = await self._next()
            if isinstance(event, list):
                yield b"".join(event)
            else:
                assert isinstance(event, _PartEnd), event
                self._current = None

    async def _next(self) -> _Event:
        while not self._events:
            if self._broken is not None:
                raise self._broken
            if self._ended:
                return _BODY_END  # the epilogue, if any, is not read
            chunk = await anext(self._stream, None)
            if chunk is None:
                self._broken = MalformedMultipart("The multipart body ends before its closing boundary.")
                raise self._broken
            self._feed(chunk)
        event = self._events.popleft()
        if isinstance(event, DomainError):
            self._broken = event
            raise event
        return event

    def _feed(self, chunk: bytes) -> None:
        # What the parser found before an error is handed on first, so the caller's own refusals
        # of earlier parts (a size limit) come in the order the body has them.
        try:
            self._parser.write(chunk)
        except DomainError as exc:
            self._events.append(exc)
        except FormParserError as exc:
            # The parser's own per-line and count limits are the same refusal as the block cap.
            if str(exc).startswith("Maximum header"):
                self._events.append(self._headers_too_large(" or too many"))
            else:
                self._events.append(MalformedMultipart("The multipart body is malformed."))

    # ---- python-multipart callbacks: they only record (they run inside `write`)

    def _headers_too_large(self, more: str = "") -> PartHeadersTooLarge:
        limit = self._max_header_bytes
        size = f"{limit // 1024} KB" if limit % 1024 == 0 else f"{limit} bytes"
        return PartHeadersTooLarge(f"A part's headers are over {size}{more}.", limit=limit)

    def _count_header(self, n: int) -> None:
        self._headers.size += n
        if self._headers.size > self._max_header_bytes:
            raise self._headers_too_large()

    def _on_part_begin(self) -> None:
        self._headers = _Headers()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._headers.key += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._headers.value += data[start:end]

    def _on_header_end(self) -> None:
        headers = self._headers
        name = bytes(headers.key).decode("latin-1").strip().lower()
        value = bytes(headers.value).decode("latin-1").strip()
        headers.key.clear()
        headers.value.clear()
        if name == "content-disposition":
            disposition, options = parse_options_header(value)
            if disposition != b"form-data":
                raise MalformedMultipart("A part is not form-data.")
            raw_name = options.get(b"name")
            headers.name = raw_name.decode("utf-8", "replace") if raw_name is not None else None
            raw_filename = options.get(b"filename")
            headers.filename = raw_filename.decode("utf-8", "replace") if raw_filename is not None else None
        elif name == "content-type":
            headers.content_type = value

    def _on_headers_finished(self) -> None:
        headers = self._headers
        if headers.name is None:
            raise MalformedMultipart("A part has no name.")
        self._events.append(Part(headers.name, headers.filename, headers.content_type, self))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if start == end:
            return
        last = self._events[-1] if self._events else None
        if isinstance(last, list):
            last.append(data[start:end])  # one chunk of the body: one piece of data for the caller
        else:
            self._events.append([data[start:end]])

    def _on_part_end(self) -> None:
        self._events.append(_PART_END)

    def _on_end(self) -> None:
        self._events.append(_BODY_END)
        self._ended = True
