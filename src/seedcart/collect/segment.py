"""Front-link events in the shape of the Segment HTTP Tracking API, mapped to touch records.

The vocabulary (track event name -> front kind):

=================  ==========================================================================
``note_impression``  ``impression``
``note_read``        ``read``, or ``deep_read`` when ``watch_ratio`` >= 0.5 (video) or, without a
                     watch ratio, ``dwell_ms`` >= 5000 (image)
``note_like``        ``like``          ``note_comment``  ``comment``     ``note_collect``  ``collect``
``note_share``       ``share``         ``note_follow``   ``follow``
``link_click``       ``link_click``    ``search``        ``search`` (in-platform; needs ``query``)
=================  ==========================================================================

Properties: ``note_id`` (required for every kind but ``search``), ``placement`` (search / feed /
video), ``campaign_id``, ``position``, ``query``, ``dwell_ms``, ``watch_ratio``, ``surface``, and for
link clicks ``click_id``, ``partner``, ``product_id``, ``link_id``. Notes the catalog does not know
are kept. A ``page`` call with ``properties.note_id`` is a ``read`` (``deep_read`` by the same rule);
an ``identify`` call whose traits carry a hashed ``match_key`` registers an identity. Other
identify/page/screen/group/alias calls are acknowledged and ignored, as Segment would for a
destination that does not use them; unknown track events are quarantined.

Time: the event time is ``timestamp`` corrected by the client clock's offset, i.e.
``received_at - (sentAt - timestamp)``, as Segment does; without ``sentAt`` the timestamp is kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import orjson

from seedcart.collect import fields
from seedcart.errors import ValidationError
from seedcart.matchkey import is_match_key
from seedcart.types import PARTNERS, PLACEMENTS

TRACK_KINDS: Final[dict[str, str]] = {
    "note_impression": "impression",
    "note_read": "read",
    "note_like": "like",
    "note_comment": "comment",
    "note_collect": "collect",
    "note_share": "share",
    "note_follow": "follow",
    "link_click": "link_click",
    "search": "search",
}
DEEP_READ_DWELL_MS: Final = 5000
DEEP_READ_WATCH_RATIO: Final = 0.5
OS_NAMES: Final = {"ios": "ios", "ipados": "ios", "iphone os": "ios", "android": "android"}
CALL_TYPES: Final = ("track", "identify", "page", "screen", "group", "alias")


class TouchRecord(msgspec.Struct, omit_defaults=True, gc=False):
    """A touch as the Segment endpoints log it: the columns of ``seedcart.lake.schemas.TOUCH`` they fill.

    A struct, not a dict: the typed way (:mod:`seedcart.collect.segment_wire`) builds one in a single
    call, the log encodes it without a dict in between, and it is freed without one. The properties a
    message did not give are None and are left out of the log's JSON (``omit_defaults``); the lake
    reads them as nulls. It holds no containers, so it stays out of the garbage collector. The typed
    way passes its fields by position, in this order: about a sixth of the time keywords take."""

    event_id: str
    ts: int
    received_at: int
    user_id: str
    kind: str
    is_bot: bool
    is_duplicate: bool
    source: str
    note_id: str | None = None
    brand_id: int | None = None  # set by seedcart.collect.resolve from the catalog
    query: str | None = None
    placement: str | None = None
    campaign_id: int | None = None
    position: int | None = None
    dwell_ms: int | None = None
    watch_ratio: float | None = None
    surface: str | None = None
    click_id: str | None = None
    partner: str | None = None
    product_id: int | None = None
    link_id: int | None = None
    device: str | None = None


@dataclass
class FrontBatch:
    """What a Segment request holds once parsed: touches, identities, refusals, ignored calls."""

    touches: list[TouchRecord] = field(default_factory=list)
    identities: list[dict[str, Any]] = field(default_factory=list)
    errors: list[fields.RowError] = field(default_factory=list)
    ignored: int = 0
    received: int = 0


def parse_body(body: bytes, call: str) -> tuple[list[Any], Any, str | None]:
    """``(messages, batch sentAt, writeKey in the body)`` of a ``/v1/<call>`` body."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"the body is not JSON: {exc}", field="body") from None
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object", field="body")
    write_key = data.get("writeKey") if isinstance(data.get("writeKey"), str) else None
    if call == "batch":
        batch = data.get("batch")
        if not isinstance(batch, list):
            raise ValidationError("a batch needs a 'batch' array of messages", field="batch")
        return batch, data.get("sentAt"), write_key
    message = dict(data)
    message.setdefault("type", call)
    return [message], data.get("sentAt"), write_key


def _event_id(message: dict[str, Any], row: int) -> str:
    event_id = fields.identifier(message.get("messageId"), "messageId", row)
    if event_id is not None:
        return event_id
    # No messageId: derive one from the content, so a retried copy still dedupes.
    return "h-" + hashlib.sha256(orjson.dumps(message, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def event_time(message: dict[str, Any], batch_sent_at: Any, received_us: int, row: int,
               batch_sent_us: int | None = None) -> int:
    """Device time corrected by the sender's clock offset (Segment's rule)."""
    stamp = message.get("timestamp") or message.get("originalTimestamp")
    if stamp is None:
        return received_us
    device_us = fields.timestamp_us(stamp, "timestamp", row)
    own = message.get("sentAt")
    if own is None and batch_sent_us is not None:
        return received_us - (batch_sent_us - device_us)
    sent_at = own or batch_sent_at
    if sent_at is None:
        return device_us
    sent_us = fields.timestamp_us(sent_at, "sentAt", row)
    return received_us - (sent_us - device_us)


def device_of(context: Any) -> str | None:
    """The device kind (ios / android / web) a message's ``context`` names, if any."""
    if not isinstance(context, dict):
        return None
    os_part = context.get("os")
    if isinstance(os_part, dict):  # the common case: context.os.name
        fast = OS_NAMES.get(str(os_part.get("name", "")).lower())
        if fast is not None:
            return fast
    names = []
    for key in ("os", "device"):
        part = context.get(key)
        if isinstance(part, dict):
            names += [str(part.get("name", "")), str(part.get("type", ""))]
    joined = " ".join(names).lower()
    if "ios" in joined or "iphone" in joined or "ipad" in joined:
        return "ios"
    if "android" in joined:
        return "android"
    if "page" in context or "userAgent" in context:
        return "web"
    return None


def is_deep_read(watch_ratio: float | None, dwell_ms: int | None) -> bool:
    """The deep-read rule: the watch ratio decides (video); without one, the dwell time (image)."""
    if watch_ratio is not None:
        return watch_ratio >= DEEP_READ_WATCH_RATIO
    return dwell_ms is not None and dwell_ms >= DEEP_READ_DWELL_MS


def _kind(name: str, props: dict[str, Any], row: int) -> str:
    kind = TRACK_KINDS[name]
    if kind == "read":
        watch = fields.number(props.get("watch_ratio"), "properties.watch_ratio", row, low=0.0, high=1.0)
        dwell = fields.integer(props.get("dwell_ms"), "properties.dwell_ms", row)
        if is_deep_read(watch, dwell):
            return "deep_read"
    return kind


def _int(value: Any, field: str, row: int) -> int | None:
    return fields.integer(value, field, row)


def _placement(value: Any, field: str, row: int) -> str | None:
    return fields.choice(value, field, PLACEMENTS, row)


def _partner(value: Any, field: str, row: int) -> str | None:
    return fields.choice(value, field, PARTNERS, row)


def _ident(value: Any, field: str, row: int) -> str | None:
    return fields.identifier(value, field, row)


def _ratio(value: Any, field: str, row: int) -> float | None:
    return fields.number(value, field, row, low=0.0, high=1.0)


#: property -> parser, for every kind; and for link clicks only.
_PROPERTIES: Final[dict[str, Any]] = {
    "campaign_id": _int, "placement": _placement, "surface": _ident, "position": _int, "dwell_ms": _int,
    "watch_ratio": _ratio,
}
_CLICK_PROPERTIES: Final[dict[str, Any]] = {
    "click_id": _ident, "partner": _partner, "product_id": _int, "link_id": _int,
}


def touch_head(event_id: str, ts: int, received_us: int, user_id: str, kind: str) -> dict[str, Any]:
    """The leading fields of every touch record (each way of mapping starts from these, in this order)."""
    return {"event_id": event_id, "ts": ts, "received_at": received_us, "user_id": user_id, "kind": kind,
            "is_bot": False, "is_duplicate": False, "source": "api"}


def to_touch(message: dict[str, Any], kind_name: str, props: dict[str, Any], *, row: int, ts: int,
             received_us: int) -> dict[str, Any]:
    """The touch record of one track (or page) call, or ValidationError naming the property."""
    user_id = fields.identifier(message.get("userId"), "userId", row) or \
        fields.identifier(message.get("anonymousId"), "anonymousId", row)
    if user_id is None:
        raise ValidationError("userId or anonymousId is required", field="userId", row=row)
    kind = _kind(kind_name, props, row)
    record = touch_head(_event_id(message, row), ts, received_us, user_id, kind)
    note_id = fields.identifier(props.get("note_id"), "properties.note_id", row, required=kind != "search")
    if note_id is not None:
        record["note_id"] = note_id
    if kind == "search" or "query" in props:
        record["query"] = fields.text_value(props.get("query"), "properties.query", row, required=kind == "search")
    for name, value in props.items():
        parse = _PROPERTIES.get(name) or (_CLICK_PROPERTIES.get(name) if kind == "link_click" else None)
        if parse is not None and value is not None:
            parsed = parse(value, f"properties.{name}", row)
            if parsed is not None:
                record[name] = parsed
    device = device_of(message.get("context"))
    if device is not None:
        record["device"] = device
    return record


def to_identity(message: dict[str, Any], *, row: int, ts: int) -> dict[str, Any] | None:
    """An identity pair from an identify call whose traits carry a hashed ``match_key``."""
    traits = message.get("traits")
    if not isinstance(traits, dict) or "match_key" not in traits:
        return None
    user_id = fields.identifier(message.get("userId"), "userId", row, required=True)
    if not is_match_key(traits["match_key"]):
        raise ValidationError("traits.match_key must be a hashed key (64 lower-case hex characters)",
                              field="traits.match_key", row=row)
    return {"user_id": user_id, "match_key": traits["match_key"], "ts": ts, "source": "api"}


def parse_messages(messages: list[Any], batch_sent_at: Any, *, received_us: int, fast: bool = True) -> FrontBatch:
    """Validate and map every message; a bad message becomes a RowError, the rest are kept.

    ``fast=False`` maps every message through the general path (the fast one must agree with it).
    """
    mapper = MessageMapper(batch_sent_at, received_us, count=len(messages))
    touch = mapper.fast.touch if fast else None
    touches = mapper.out.touches
    for row, message in enumerate(messages):
        if touch is not None:
            record = touch(message)
            if record is not None:
                touches.append(record)
                continue
        mapper.general(row, message)
    return mapper.out


class MessageMapper:
    """The mapping of one request's messages into ``out``: ``fast`` maps the common ones (or gives up),
    ``general`` maps any message or refuses it naming its row and field."""

    def __init__(self, batch_sent_at: Any, received_us: int, *, count: int) -> None:
        self.out = FrontBatch(received=count)
        try:
            batch_sent_us = fields.timestamp_us(batch_sent_at, "sentAt") if batch_sent_at is not None else None
        except ValidationError:
            batch_sent_us = None  # each message using it is refused by event_time, naming its row
        #: the fast mapping of this request, and its times (the timestamp cache serves every fast way in)
        self.fast = FastMapper(batch_sent_at, batch_sent_us, received_us)

    def general(self, row: int, message: Any) -> None:
        """Map the message at ``row`` (a decoded JSON value) the general way into ``out``."""
        out, times = self.out, self.fast
        received_us = times.received_us
        try:
            if not isinstance(message, dict):
                raise ValidationError("a message must be a JSON object", field="batch", row=row)
            call = message.get("type", "track")
            if call not in CALL_TYPES:
                raise ValidationError(f"type must be one of {', '.join(CALL_TYPES)}", field="type", row=row)
            props = message.get("properties") or {}
            if not isinstance(props, dict):
                raise ValidationError("properties must be an object", field="properties", row=row)
            ts = event_time(message, times.batch_sent_at, received_us, row, times.batch_sent_us)
            if call == "track":
                name = message.get("event")
                if name not in TRACK_KINDS:
                    raise ValidationError(f"unknown track event {str(name)[:60]!r}; the vocabulary is "
                                          f"{', '.join(TRACK_KINDS)}", field="event", row=row)
                out.touches.append(TouchRecord(**to_touch(message, name, props, row=row, ts=ts,
                                                          received_us=received_us)))
            elif call == "page" and props.get("note_id") is not None:
                out.touches.append(TouchRecord(**to_touch(message, "note_read", props, row=row, ts=ts,
                                                          received_us=received_us)))
            elif call == "identify" and (identity := to_identity(message, row=row, ts=ts)) is not None:
                out.identities.append(identity)
            else:
                out.ignored += 1
        except ValidationError as exc:
            out.errors.append(fields.RowError(row, exc.field, exc.message, fields.raw_text(message)))


def message_bytes(message: Any, row: int | None = None) -> int:
    """The length of a message's compact JSON: what the per-message size limit measures. A message
    nested too deeply to be written back as JSON (orjson writes 255 levels, reads 1024) cannot be
    measured, kept or quarantined: ValidationError naming its row."""
    try:
        return len(orjson.dumps(message))
    except orjson.JSONEncodeError as exc:
        raise ValidationError(f"the message cannot be kept as JSON ({exc}): nested too deeply?", field="batch",
                              row=row) from None


def oversized(messages: list[Any], limit: int) -> int | None:
    """The index of the first message whose JSON is longer than ``limit`` bytes, if any."""
    return next((row for row, message in enumerate(messages) if message_bytes(message, row) > limit), None)


# -- the fast path --------------------------------------------------------------------------------
# The common message (a track call of the vocabulary with well-typed fields) is mapped inline, with
# no call per field; anything unusual makes it give up (return None), and the message then goes
# through the general path above, which maps it or refuses it naming the field. Both paths give the
# same record for every message the fast one takes (tests/collect/test_segment.py checks this).

_INT, _CHOICE, _IDENT, _RATIO, _PARTNER = range(5)
_FAST_PROPS: Final[dict[str, int]] = {
    "campaign_id": _INT, "position": _INT, "dwell_ms": _INT, "placement": _CHOICE, "surface": _IDENT,
    "watch_ratio": _RATIO,
}
_FAST_CLICK_PROPS: Final[dict[str, int]] = _FAST_PROPS | {
    "click_id": _IDENT, "partner": _PARTNER, "product_id": _INT, "link_id": _INT,
}
_MAX_INT: Final = 1 << 63
_MAX_ID: Final = fields.MAX_ID_LEN
_GIVE_UP: Final = object()


def _fast_value(how: int, value: Any) -> Any:
    """The parsed property value, None to leave it out, or _GIVE_UP when the general path must decide."""
    cls = type(value)
    if how == _INT:
        return value if cls is int and 0 <= value < _MAX_INT else _GIVE_UP
    if how == _CHOICE:
        return value if cls is str and value in PLACEMENTS else _GIVE_UP
    if how == _PARTNER:
        return value if cls is str and value in PARTNERS else _GIVE_UP
    if how == _IDENT:
        ok = cls is str and 0 < len(value) <= fields.MAX_ID_LEN and not value[0].isspace() \
            and not value[-1].isspace()
        return value if ok else _GIVE_UP
    if cls is float or cls is int:  # _RATIO
        return float(value) if 0.0 <= value <= 1.0 else _GIVE_UP  # NaN fails the comparison
    return _GIVE_UP


class FastMapper:
    """Maps common track messages of one batch; timestamps are parsed once per distinct string."""

    def __init__(self, batch_sent_at: Any, batch_sent_us: int | None, received_us: int) -> None:
        self.batch_sent_at = batch_sent_at
        self.batch_sent_us = batch_sent_us
        self.received_us = received_us
        self._stamps: dict[Any, int | None] = {}

    def _stamp(self, value: Any) -> int | None:
        """Epoch microseconds of an ISO-8601 string; None for anything else or a bad one."""
        try:
            return self._stamps[value]
        except (KeyError, TypeError):
            pass
        if type(value) is not str:
            return None
        try:
            us: int | None = fields.timestamp_us(value, "timestamp")
        except ValidationError:
            us = None
        if len(self._stamps) < 10_000:
            self._stamps[value] = us
        return us

    def event_time(self, stamp: Any, own_sent_at: Any) -> int | None:
        """:func:`event_time` of a message with this ``timestamp`` (or ``originalTimestamp``) and own
        ``sentAt``, for the cases it decides without refusing; None when the general path must decide."""
        received_us = self.received_us
        if stamp is None:
            return received_us
        device_us = self._stamp(stamp)
        if device_us is None:
            return None
        if own_sent_at is None:
            if self.batch_sent_us is not None:
                return received_us - (self.batch_sent_us - device_us)
            return device_us if self.batch_sent_at is None else None
        sent_us = self._stamp(own_sent_at) if own_sent_at else None
        return None if sent_us is None else received_us - (sent_us - device_us)

    def touch(self, message: Any) -> TouchRecord | None:
        """The touch of a common track message, or None when the general path must map it."""
        if type(message) is not dict or message.get("type", "track") != "track":
            return None
        name = message.get("event")
        kind = TRACK_KINDS.get(name) if type(name) is str else None
        props = message.get("properties") or {}
        if kind is None or type(props) is not dict:
            return None
        user_id: Any = message.get("userId")
        event_id: Any = message.get("messageId")
        note_id = props.get("note_id")
        for value in (user_id, event_id) if note_id is None else (user_id, event_id, note_id):
            if type(value) is not str or not 0 < len(value) <= _MAX_ID or value[0].isspace() \
                    or value[-1].isspace():
                return None
        if note_id is None and kind != "search":
            return None
        ts = self.event_time(message.get("timestamp") or message.get("originalTimestamp"), message.get("sentAt"))
        if ts is None:
            return None
        record = touch_head(event_id, ts, self.received_us, user_id, kind)
        if note_id is not None:
            record["note_id"] = note_id
        if kind == "search" or "query" in props:
            query = props.get("query")
            if (query is None or query == "") and kind != "search":
                query = None
            elif type(query) is not str or not 0 < len(query) <= fields.MAX_TEXT_LEN:
                return None
            record["query"] = query
        known = _FAST_CLICK_PROPS if kind == "link_click" else _FAST_PROPS
        for prop, value in props.items():
            how = known.get(prop)
            if how is None or value is None:
                continue
            if how == _INT and type(value) is int and 0 <= value < _MAX_INT:
                record[prop] = value
                continue
            parsed = _fast_value(how, value)
            if parsed is _GIVE_UP:
                return None
            if parsed is not None:
                record[prop] = parsed
        if kind == "read" and is_deep_read(record.get("watch_ratio"), record.get("dwell_ms")):
            record["kind"] = "deep_read"
        context = message.get("context")
        if type(context) is dict:
            os_part = context.get("os")
            device = OS_NAMES.get(os_part.get("name", "").lower()) if type(os_part) is dict and \
                type(os_part.get("name", "")) is str else None
            if device is None:
                device = device_of(context)
            if device is not None:
                record["device"] = device
        return TouchRecord(**record)
