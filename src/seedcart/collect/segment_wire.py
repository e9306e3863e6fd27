"""Segment request bodies read with msgspec: the common track call decoded into typed structs, in C.

Why: decoding a batch into dicts with orjson, re-encoding every message to measure it against the
32 KB limit, mapping the dicts in Python and freeing them took about 40% of the intake server's
main-thread time per event (py-spy, ``benchmarks/intake.py``). Here the ``batch`` array is first
split into each message's raw JSON (its byte length comes for free), then each message is decoded
into :class:`Track`, whose fields carry the types, ranges, lengths and vocabularies the mapping
wants, and mapped from attributes.

Exactness: a message is taken as a :class:`Track` only when every key in it (nested ones too) is
declared below and every value has its declared type. Nothing is skipped unread, so msgspec has
checked all of its bytes as orjson does (UTF-8, escapes, surrogates, numbers out of range) and read
the same values (a repeated key: the last one wins in both). Any other message (another call type, an
undeclared key, a value of another type) is decoded by orjson, the reference decoder, and mapped the
dict way of :mod:`seedcart.collect.segment`, as before; so is a body whose envelope is not the plain
``{"batch", "sentAt", "writeKey"}``, and every body of the single-call endpoints. A body orjson refuses
is refused with orjson's error, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, TypeAlias, TypeVar

import msgspec
import orjson
from msgspec import UNSET, UnsetType

from seedcart.collect import fields, segment
from seedcart.types import Partner, Placement

_T = TypeVar("_T")
#: a field that may be absent (UNSET) or null, kept apart where the general path tells them apart
_Maybe: TypeAlias = _T | UnsetType | None
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=fields.MAX_ID_LEN)]
_Text = Annotated[str, msgspec.Meta(max_length=fields.MAX_TEXT_LEN)]
_Count = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]
_Ratio = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class _Wire(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """Every key must be declared: an undeclared one sends the message to the dict way (see above).
    Decoded JSON holds no cycles, so the structs stay out of the garbage collector."""


class _Properties(_Wire):
    """``properties``. A null property is one not given, and so is an empty ``query`` (see _touch)."""

    note_id: _Id | None = None
    query: _Maybe[_Text] = UNSET
    placement: Placement | None = None
    campaign_id: _Count | None = None
    position: _Count | None = None
    dwell_ms: _Count | None = None
    watch_ratio: _Ratio | None = None
    surface: _Id | None = None
    click_id: _Id | None = None
    partner: Partner | None = None
    product_id: _Count | None = None
    link_id: _Count | None = None


# ``context`` is read only for the device; absent fields stay UNSET so that msgspec.to_builtins gives
# back the very object the message held, for segment.device_of when ``os.name`` does not decide.
class _Named(_Wire):
    name: _Maybe[str] = UNSET
    version: _Maybe[str] = UNSET


class _App(_Named):
    build: _Maybe[str] = UNSET
    namespace: _Maybe[str] = UNSET


class _Device(_Wire):
    id: _Maybe[str] = UNSET
    advertisingId: _Maybe[str] = UNSET
    adTrackingEnabled: _Maybe[bool] = UNSET
    manufacturer: _Maybe[str] = UNSET
    model: _Maybe[str] = UNSET
    name: _Maybe[str] = UNSET
    type: _Maybe[str] = UNSET
    token: _Maybe[str] = UNSET


class _Page(_Wire):
    path: _Maybe[str] = UNSET
    referrer: _Maybe[str] = UNSET
    search: _Maybe[str] = UNSET
    title: _Maybe[str] = UNSET
    url: _Maybe[str] = UNSET


class _Context(_Wire):
    os: _Maybe[_Named] = UNSET
    library: _Maybe[_Named] = UNSET
    app: _Maybe[_App] = UNSET
    device: _Maybe[_Device] = UNSET
    page: _Maybe[_Page] = UNSET
    userAgent: _Maybe[str] = UNSET
    locale: _Maybe[str] = UNSET
    timezone: _Maybe[str] = UNSET
    ip: _Maybe[str] = UNSET


class Track(_Wire):
    """A track call as Segment's libraries send it (analytics-python's fields, the usual context)."""

    event: str
    type: Literal["track"] = "track"
    messageId: _Id | None = None
    userId: _Id | None = None
    anonymousId: _Id | None = None
    timestamp: str | None = None
    originalTimestamp: str | None = None
    sentAt: str | None = None
    properties: _Properties | None = None
    context: _Context | None = None
    integrations: dict[str, bool] | None = None


class _Envelope(_Wire):
    batch: list[msgspec.Raw]
    sentAt: str | None = None
    writeKey: str | None = None


class _Tracks(_Wire):
    """The envelope of a batch of nothing but typed track calls: decoded in one call."""

    batch: list[Track]
    sentAt: str | None = None
    writeKey: str | None = None


_ENVELOPE: Final = msgspec.json.Decoder(_Envelope)
_TRACKS: Final = msgspec.json.Decoder(_Tracks)
_TRACK: Final = msgspec.json.Decoder(Track)
#: How much longer than its raw JSON a Track's compact JSON can be: only a number can grow when
#: re-encoded, and only ``watch_ratio`` may be a float (``5e-4`` -> ``0.0005``; at most 24 characters).
_GROWTH: Final = 32
_MISSES_TOLERATED: Final = 3


def _as_in_body(raw: msgspec.Raw) -> Any:
    """orjson's reading of one message, nested as deep as it is in the body (``{"batch": [...]}``),
    so that orjson's depth limit refuses it exactly when it refused the whole body."""
    return orjson.loads(b"[[" + bytes(raw) + b"]]")[0][0]


@dataclass
class Messages:
    """The messages of one request: a :class:`Track` where msgspec took one, else orjson's value."""

    rows: list[Any]
    sent_at: Any
    write_key: str | None
    #: each message's raw JSON, when the body was split by msgspec
    raws: list[msgspec.Raw] | None = None

    def _plain(self, row: int) -> Any:
        """orjson's reading of the message at ``row``, for the general path."""
        message = self.rows[row]
        if isinstance(message, Track) and self.raws is not None:
            return _as_in_body(self.raws[row])
        return message

    def oversized(self, limit: int) -> int | None:
        """The index of the first message whose compact JSON is longer than ``limit`` bytes, if any
        (a Track's raw length bounds it: it is measured only when within ``_GROWTH`` of the limit)."""
        if self.raws is None:
            return segment.oversized(self.rows, limit)
        for row, (message, raw) in enumerate(zip(self.rows, self.raws, strict=True)):
            if isinstance(message, Track) and len(raw) + _GROWTH <= limit:
                continue
            if segment.message_bytes(self._plain(row), row) > limit:
                return row
        return None

    def parse(self, received_us: int) -> segment.FrontBatch:
        """:func:`segment.parse_messages` of these messages: the same touches, refusals and counts."""
        if self.raws is None:
            return segment.parse_messages(self.rows, self.sent_at, received_us=received_us)
        mapper = segment.MessageMapper(self.sent_at, received_us, count=len(self.rows))
        fast, touches = mapper.fast, mapper.out.touches
        for row, message in enumerate(self.rows):
            record = _touch(message, fast) if isinstance(message, Track) else fast.touch(message)
            if record is not None:
                touches.append(record)
            else:
                mapper.general(row, self._plain(row))
        return mapper.out


def read(body: bytes, call: str) -> Messages:
    """The messages of a ``/v1/<call>`` body; ValidationError (naming ``body`` or ``batch``) as
    :func:`segment.parse_body` raises it."""
    if call == "batch":
        messages = _read_batch(body)
        if messages is not None:
            return messages
    rows, sent_at, write_key = segment.parse_body(body, call)
    return Messages(rows, sent_at, write_key)


def _read_batch(body: bytes) -> Messages | None:
    """A batch split and typed by msgspec, or None when orjson must read the whole body: when it is
    not JSON, or not the plain envelope, or when many of its messages are not typed track calls (each
    such message costs a failed typed decode on top of orjson's: past a few, and past a quarter of the
    messages, orjson reading the whole body is the cheaper way)."""
    try:
        envelope = _ENVELOPE.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None
    try:  # the common batch, every message a typed track call: one call, no loop in Python
        tracks = _TRACKS.decode(body)
    except (msgspec.DecodeError, RecursionError):
        pass
    else:
        if len(tracks.batch) == len(envelope.batch):
            return Messages(tracks.batch, envelope.sentAt, envelope.writeKey, envelope.batch)
    rows: list[Any] = []
    misses = 0
    for row, raw in enumerate(envelope.batch):
        try:
            rows.append(_TRACK.decode(raw))
            continue
        except (msgspec.DecodeError, RecursionError):
            misses += 1
        if misses > _MISSES_TOLERATED and misses * 4 > row + 1:
            return None
        try:
            rows.append(_as_in_body(raw))
        except (orjson.JSONDecodeError, RecursionError):
            return None  # parse_body refuses the body with orjson's own words
    return Messages(rows, envelope.sentAt, envelope.writeKey, envelope.batch)


def _touch(track: Track, fast: segment.FastMapper) -> segment.TouchRecord | None:
    """The touch of a typed track call (what :func:`segment.to_touch` makes of it), or None when the
    general path must map or refuse it."""
    kind = segment.TRACK_KINDS.get(track.event)
    user_id = track.userId if track.userId is not None else track.anonymousId
    event_id = track.messageId
    if kind is None or user_id is None or event_id is None or _padded(user_id) or _padded(event_id):
        return None
    props = track.properties if track.properties is not None else _NO_PROPERTIES
    note_id, query = props.note_id, props.query
    if (note_id is None and kind != "search") or (note_id is not None and _padded(note_id)):
        return None
    if kind == "search" and not query:
        return None
    clicks = kind == "link_click"
    if (props.surface is not None and _padded(props.surface)) or \
            (clicks and props.click_id is not None and _padded(props.click_id)):
        return None
    ts = fast.event_time(track.timestamp or track.originalTimestamp, track.sentAt)
    if ts is None:
        return None
    if kind == "read" and segment.is_deep_read(props.watch_ratio, props.dwell_ms):
        kind = "deep_read"
    # An absent, null or empty query is no query (fields.text_value); link-click properties mean
    # nothing on other calls.
    return segment.TouchRecord(  # by position, in the order of its fields (see its docstring)
        event_id, ts, fast.received_us, user_id, kind, False, False, "api", note_id, None,
        query if query else None, props.placement, props.campaign_id, props.position, props.dwell_ms,
        props.watch_ratio, props.surface, props.click_id if clicks else None, props.partner if clicks else None,
        props.product_id if clicks else None, props.link_id if clicks else None,
        _device(track.context) if track.context is not None else None)


_NO_PROPERTIES: Final = _Properties()


def _padded(value: str) -> bool:
    """Whether an id starts or ends with white space (the general path strips it: let it decide)."""
    return value[0].isspace() or value[-1].isspace()


def _device(context: _Context) -> str | None:
    """:func:`segment.device_of` of the context; ``os.name`` decides the common case without a dict."""
    os_part = context.os
    if isinstance(os_part, _Named) and isinstance(os_part.name, str):
        device = segment.OS_NAMES.get(os_part.name.lower())
        if device is not None:
            return device
    return segment.device_of(msgspec.to_builtins(context))
