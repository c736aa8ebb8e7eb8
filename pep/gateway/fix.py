"""A small FIX tag=value codec for the relay path: frame, validate, read a few tags, build session messages.

The gateway forwards the bytes it received; it only needs to find message boundaries (BeginString, BodyLength,
CheckSum), the MsgType and the sequence number, and to parse the Logon in full. Measured against simplefix
(bench/bench_gateway.py): framing and checking a message here costs a fraction of a full parse into a message
object, which matters at 20k messages a second in one process.
"""

from __future__ import annotations

import re
import time

SOH = b"\x01"
BEGIN_STRINGS = (b"FIX.4.4", b"FIXT.1.1")
#: Session-level messages pass through without a decision (heartbeat, test request, resend request, reject,
#: sequence reset, logout); a second Logon in a live session is refused.
SESSION_TYPES = frozenset({"0", "1", "2", "3", "4", "5"})

LOGON = "A"
LOGOUT = "5"
HEARTBEAT = "0"


class FixError(Exception):
    """The peer sent something that is not a well-formed FIX message; the message says what."""


def checksum(data: bytes | bytearray) -> bytes:
    """The three-digit CheckSum of everything before the ``10=`` field."""
    return b"%03d" % (sum(data) & 255)


_FIELD = re.compile(rb"(?<![^\x01])([0-9]+)=([^\x01]*)\x01")


class Frame:
    """One validated message: the raw bytes and its MsgType; MsgSeqNum is read on demand (the relay needs it
    for the last message of a read, not for every message)."""

    __slots__ = ("msg_type", "raw")

    def __init__(self, raw: bytes, msg_type: str) -> None:
        self.raw = raw
        self.msg_type = msg_type

    @property
    def seq(self) -> int:
        """MsgSeqNum (34), 0 when absent."""
        raw = self.raw
        at = raw.find(b"\x0134=")
        if at < 0:
            return 0
        text = raw[at + 4 : raw.index(SOH, at + 4)]
        if not text.isdigit():
            raise FixError("MsgSeqNum (34) is not a number")
        return int(text)

    def pairs(self) -> dict[bytes, bytes]:
        """Every field as raw ``{tag: value}`` (last one wins for repeated tags); for the Logon, not per message.

        One regular-expression pass; a field that is not ``digits=value`` makes the counts differ."""
        found = _FIELD.findall(self.raw)
        if len(found) != self.raw.count(SOH):
            raise FixError("malformed field: every field must be tag=value with a numeric tag")
        return dict(found)

    def fields(self) -> dict[int, str]:
        """Every tag of the message as ``{int tag: text}``."""
        return {int(k): v.decode("latin-1") for k, v in self.pairs().items()}


def _header_error(head: bytes, begin_strings: tuple[bytes, ...]) -> FixError:
    if not head.startswith(b"8="):
        return FixError("garbage: a message must start with 8=BeginString")
    begin = head[2:].split(SOH, 1)[0]
    if SOH in head[2:] and begin not in begin_strings:
        return FixError(f"wrong BeginString {begin.decode('latin-1')!r}")
    if SOH in head[2:]:
        return FixError("BodyLength (9) must be the second field")
    return FixError("garbage: BeginString is not terminated")


_HEADER = re.compile(rb"8=(FIX\.4\.4|FIXT\.1\.1)\x019=([0-9]{1,9})\x0135=([^\x01=]{1,8})\x01")


def read_frames(buf: bytearray, max_body_length: int, begin_strings: tuple[bytes, ...] = BEGIN_STRINGS) -> list[Frame]:
    """Remove and return every complete message at the start of ``buf``; raise :class:`FixError` on bad input.

    Incomplete trailing data stays in ``buf``. A message is checked for: BeginString first and allowed,
    BodyLength second, numeric and within ``max_body_length``, MsgType third, CheckSum last and correct.
    This runs for every message relayed, so the usual case is one regular-expression match for the header and
    a handful of byte operations; anything unusual goes through :func:`_frame_slowly`, which says what is wrong.
    """
    frames: list[Frame] = []
    match = _HEADER.match
    start = 0
    size = len(buf)
    while start < size:
        head = match(buf, start)
        if head is None or head.group(1) not in begin_strings:
            frame = _frame_slowly(buf, start, max_body_length, begin_strings)
            if frame is None:
                break
            frames.append(frame)
            start += len(frame.raw)
            continue
        body_length = int(head.group(2))
        if body_length > max_body_length:
            raise FixError(f"BodyLength {body_length} exceeds the limit of {max_body_length}")
        trailer = head.end(2) + 1 + body_length
        if size < trailer + 7:
            break
        tail = buf[trailer : trailer + 7]
        if tail[:3] != b"10=" or tail[6] != 1 or not tail[3:6].isdigit() or head.end() > trailer + 1:
            raise FixError("CheckSum (10) is not where BodyLength says the body ends")
        if int(tail[3:6]) != sum(buf[start:trailer]) & 255:
            raise FixError("bad CheckSum")
        frames.append(Frame(bytes(buf[start : trailer + 7]), head.group(3).decode("latin-1")))
        start = trailer + 7
    if start:
        del buf[:start]
    return frames


def _frame_slowly(buf: bytearray, start: int, max_body_length: int, begin_strings: tuple[bytes, ...]) -> Frame | None:
    """One message at ``start`` checked field by field: the frame, None when incomplete, or the precise error."""
    heads = tuple(b"8=" + b for b in begin_strings)
    size = len(buf)
    mark = buf.find(b"\x019=", start, start + 16)
    if mark < 0 or buf[start:mark] not in heads:
        # Incomplete only while what arrived can still become "8=...": anything else fails at once.
        if mark < 0 and any((h + b"\x019=").startswith(buf[start : start + 16]) for h in heads):
            return None
        raise _header_error(bytes(buf[start : start + 16]), begin_strings)
    end_len = buf.find(SOH, mark + 3, mark + 12)
    if end_len < 0:
        if size - mark >= 12:
            raise FixError("BodyLength is not a number")
        return None
    length_text = buf[mark + 3 : end_len]
    if not length_text.isdigit():
        raise FixError(f"BodyLength {bytes(length_text)!r} is not a number")
    body_length = int(length_text)
    if body_length > max_body_length:
        raise FixError(f"BodyLength {body_length} exceeds the limit of {max_body_length}")
    trailer = end_len + 1 + body_length
    if size < trailer + 7 and buf[end_len + 1 : end_len + 4] in (b"35="[: size - end_len - 1], b"35="):
        return None
    end_type = buf.find(SOH, end_len + 4, trailer)
    if buf[end_len + 1 : end_len + 4] != b"35=" or end_type < end_len + 5:
        raise FixError("MsgType (35) must be the third field")
    tail = buf[trailer : trailer + 7]
    if tail[:3] != b"10=" or tail[6] != 1 or not tail[3:6].isdigit():
        raise FixError("CheckSum (10) is not where BodyLength says the body ends")
    if int(tail[3:6]) != sum(buf[start:trailer]) & 255:
        raise FixError("bad CheckSum")
    return Frame(bytes(buf[start : trailer + 7]), buf[end_len + 4 : end_type].decode("latin-1"))


def sending_time(now: float | None = None) -> str:
    """UTCTimestamp with milliseconds, as tag 52 carries it."""
    now = time.time() if now is None else now
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}"


def encode(begin_string: str, msg_type: str, fields: list[tuple[int, object]]) -> bytes:
    """Build a message: BeginString, BodyLength, MsgType, then ``fields`` in order, then CheckSum."""
    body = b"35=" + msg_type.encode("latin-1") + SOH
    body += b"".join(b"%d=%s\x01" % (tag, str(value).encode("latin-1")) for tag, value in fields)
    head = b"8=" + begin_string.encode("latin-1") + SOH + b"9=%d\x01" % len(body)
    message = head + body
    return message + b"10=" + checksum(message) + SOH


def with_seq(raw: bytes, seq: int) -> bytes:
    """The same message with MsgSeqNum replaced, BodyLength and CheckSum recomputed."""
    first = raw.index(SOH)
    second = raw.index(SOH, first + 1)
    at = raw.index(b"\x0134=", second)
    end = raw.index(SOH, at + 4)
    body = raw[second + 1 : at] + b"\x0134=%d" % seq + raw[end : len(raw) - 7]
    message = raw[: first + 1] + b"9=%d\x01" % len(body) + body
    return message + b"10=" + checksum(message) + SOH
