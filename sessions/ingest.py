"""Reading a PEP's event batch: JSON Lines, each line checked against ``pep/events.schema.json``, then projected
into the current state of each session (the event-to-state table of docs/sessions.md).

Pure functions over plain data and model instances not yet saved; ``sessions.actions.ingest_events`` owns the
transaction, the queries and the live publication.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pep
from sessions.models import ENDED_STATES, FixSession, SessionState
from ztconsole.core.errors import ActionError

SCHEMA_PATH = Path(pep.__file__).resolve().parent / "events.schema.json"
ENVELOPE = ("format", "pep", "environment", "boot", "seq", "time", "type")
MAX_LINE_BYTES = 64 * 1024
# Events that carry a FIX message's arrival: they move "last message" and the lag.
MESSAGE_EVENTS = frozenset({"logon_decision", "session_live", "heartbeat", "reject", "logout"})


class EventBatchError(ActionError):
    """A batch refused whole: ``line`` (1-based) and ``field`` name the first fault."""

    def __init__(self, message: str, *, line: int, field: str, status: int = 400) -> None:
        super().__init__(f"line {line}: {message}", field)
        self.line = line
        self.status = status


@cache
def validator():
    """The whole schema, compiled (used for events whose type is unknown, to name the fault)."""
    import fastjsonschema

    return fastjsonschema.compile(json.loads(SCHEMA_PATH.read_text()))


@cache
def validators() -> dict[str, Any]:
    """One compiled validator per event type: the envelope plus that type's ``then`` clause of the schema.

    Equivalent to the whole schema for an event of that type, without testing the other types' ``if``
    clauses on every event (the whole schema has twenty of them).
    """
    import fastjsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    envelope = {k: v for k, v in schema.items() if k != "allOf"}
    out = {}
    for clause in schema.get("allOf", []):
        kind = clause["if"]["properties"]["type"]["const"]
        out[kind] = fastjsonschema.compile({**envelope, "allOf": [clause["then"]]})
    return out


def _schema_fault(exc: Any, event: Any) -> tuple[str, str]:
    """(field, message) for a fastjsonschema error: the property at fault, even for ``required``."""
    path = [str(p) for p in getattr(exc, "path", []) or []][1:]
    if getattr(exc, "rule", "") == "required" and isinstance(event, dict):
        wanted = (exc.definition or {}).get("required", []) if isinstance(exc.definition, dict) else []
        missing = [name for name in wanted if name not in event]
        if missing:
            return missing[0], f"{missing[0]} is required for this event type"
    field = ".".join(path) or "event"
    message = str(getattr(exc, "message", exc)).replace("data.", "", 1).replace("data ", "event ", 1)
    return field, message


# The standard library's JSON scanner (C), called on each line directly: ``json.loads`` costs as much again in
# its Python wrappers (type checks, whitespace regular expressions) as the scanning itself, per line.
_SCANNER = json.JSONDecoder().scan_once


class Event:
    """One validated line: the envelope's values as attributes, the whole object in ``fields``.

    A plain class with slots: at twenty thousand events a second, a frozen dataclass's constructor shows.
    """

    __slots__ = ("boot", "fields", "line_no", "raw", "seq", "session", "time", "type")

    def __init__(self, line_no: int, raw: str, data: dict[str, Any]) -> None:
        self.line_no = line_no
        self.raw = raw
        self.boot: str = data["boot"]
        self.seq: int = data["seq"]
        self.time: datetime = datetime.fromisoformat(data["time"])
        self.type: str = data["type"]
        self.session: str = data.get("session") or ""
        self.fields = data

    def inputs(self) -> dict[str, Any]:
        """The event's own fields, without the envelope (what a decision-log row keeps)."""
        return {k: v for k, v in self.fields.items() if k not in ENVELOPE}


def parse_batch(body: bytes, *, pep_name: str, environment: str, max_events: int) -> list[Event]:
    """Every line of ``body`` as an ``Event``, or EventBatchError naming the first bad line and field.

    A line whose ``pep`` or ``environment`` is not the authenticated point's is refused with status 403: a PEP
    reports its own sessions only.
    """
    by_type = validators()
    check_all = validator()
    scan = _SCANNER
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise EventBatchError("the body is not UTF-8", line=1, field="body") from None
    events: list[Event] = []
    # (boot, seq) -> the event first given it in this batch: a line repeated whole (a spool resent from an
    # offset) is left out, since the projection applies each event it is given; another event under a number
    # already used is a fault of the PEP's numbering and refuses the batch.
    numbered: dict[tuple[str, int], Event] = {}
    for line_no, raw in enumerate(text.splitlines(), start=1):
        raw = raw.strip()
        if not raw:
            continue
        if len(events) >= max_events:
            raise EventBatchError(f"a batch holds at most {max_events} events", line=line_no, field="body", status=413)
        if len(raw) > MAX_LINE_BYTES:
            raise EventBatchError(f"an event is at most {MAX_LINE_BYTES} bytes", line=line_no, field="event")
        try:
            data, end = scan(raw, 0)
            if end != len(raw):
                raise ValueError
        except (StopIteration, ValueError):
            try:  # the error json.loads gives, for its message
                data = json.loads(raw)
            except ValueError as exc:
                raise EventBatchError(f"not JSON ({exc.msg})", line=line_no, field="event") from None
        if not isinstance(data, dict):
            raise EventBatchError("an event is a JSON object", line=line_no, field="event")
        check = by_type.get(data.get("type")) if isinstance(data.get("type"), str) else None
        try:
            (check or check_all)(data)
        except Exception as exc:  # fastjsonschema.JsonSchemaValueException
            field, message = _schema_fault(exc, data)
            raise EventBatchError(message, line=line_no, field=field) from None
        if data["pep"] != pep_name:
            raise EventBatchError(
                f"this token belongs to enforcement point {pep_name!r}, not {data['pep']!r}",
                line=line_no,
                field="pep",
                status=403,
            )
        if data["environment"] != environment:
            raise EventBatchError(
                f"{pep_name} is registered for {environment}, not {data['environment']!r}",
                line=line_no,
                field="environment",
                status=403,
            )
        event = Event(line_no, raw, data)
        first = numbered.setdefault((event.boot, event.seq), event)
        if first is not event:
            if first.fields != data:
                raise EventBatchError(
                    f"seq {event.seq} of boot {event.boot} is already line {first.line_no}'s, with other content",
                    line=line_no,
                    field="seq",
                )
            continue
        events.append(event)
    return events


class SessionRow:
    """A session's stored columns as plain attributes (``pk`` and the fields' ``attname``s: ``point_id``,
    ``identity_id``...): what the projection reads, changes and upserts. A model instance's constructor costs
    tens of microseconds, and ingestion builds one row per session touched by every batch."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__ = values


def _text(value: Any, limit: int) -> str:
    return "" if value is None else str(value)[:limit]


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def _end(row: FixSession, state: str, when: datetime) -> None:
    row.state = state
    if row.ended_at is None:
        row.ended_at = when


def apply(row: FixSession | SessionRow, event: Event) -> tuple[bool, str | None, str | None]:
    """Apply one event to a session row. Returns (state changed, identity name to resolve, fingerprint to link)."""
    f = event.fields
    before = row.state
    identity_name = fingerprint = None
    kind = event.type
    if kind in MESSAGE_EVENTS:
        row.last_message_at = event.time
    if kind == "connection":
        row.listener = _text(f.get("listener"), 64)
        row.source_ip = _text(f.get("source_ip"), 45)
        row.source_port = _int(f.get("source_port"))
        row.started_at = min(row.started_at, event.time)
    elif kind == "tls_handshake":
        row.tls_version = _text(f.get("tls_version"), 16)
        row.cipher = _text(f.get("cipher"), 80)
        row.peer_fingerprint = _text(f.get("peer_fingerprint"), 64)
        row.peer_subject = _text(f.get("peer_subject"), 300)
        fingerprint = row.peer_fingerprint or None
        if row.state == SessionState.CONNECTING:
            row.state = SessionState.TLS_ESTABLISHED
    elif kind == "tls_refused":
        row.end_reason = _text(f.get("reason"), 500)
        if f.get("source_ip") and not row.source_ip:
            row.source_ip = _text(f.get("source_ip"), 45)
        _end(row, SessionState.REFUSED, event.time)
    elif kind == "logon_decision":
        row.identity_name = _text(f.get("identity"), 150)
        identity_name = row.identity_name or None
        row.device_ref = _text(f.get("device"), 64)
        row.sender_comp_id = _text(f.get("sender_comp_id"), 64)
        row.target_comp_id = _text(f.get("target_comp_id"), 64)
        row.begin_string = _text(f.get("begin_string"), 16)
        row.client_seq = _int(f.get("msg_seq_num"))
        row.heartbeat_interval = _int(f.get("heart_bt_int"))
        row.outcome = f["outcome"]
        row.score = f.get("score")
        row.contributions = f.get("contributions") or []
        row.matched_rule = _text(f.get("matched_rule"), 64)
        row.decision_reason = _text(f.get("reason"), 500)
        row.bundle_version = f.get("bundle_version")
        if f.get("listener") and not row.listener:
            row.listener = _text(f.get("listener"), 64)
        if row.outcome != "allow":
            row.end_reason = row.decision_reason
            _end(row, SessionState.REFUSED, event.time)
    elif kind == "step_up_requested":
        # A held Logon: the identity is known now, so its sponsor sees the session while it waits.
        row.identity_name = _text(f.get("identity"), 150)
        identity_name = row.identity_name or None
        row.sender_comp_id = _text(f.get("sender_comp_id"), 64)
        row.decision_reason = _text(f.get("reason"), 500)
    elif kind == "session_live":
        row.venue_seq = _int(f.get("venue_seq"))
        if f.get("identity") and not row.identity_name:
            row.identity_name = _text(f.get("identity"), 150)
            identity_name = row.identity_name
        if row.state not in ENDED_STATES:
            row.state = SessionState.LOGGED_ON
    elif kind == "heartbeat":
        if f.get("direction") == "client":
            row.client_seq = _int(f.get("msg_seq_num"))
            row.venue_seq = _int(f.get("venue_seq")) or row.venue_seq
        else:
            row.venue_seq = _int(f.get("msg_seq_num"))
            row.client_seq = _int(f.get("client_seq")) or row.client_seq
    elif kind == "reject":
        row.rejected += 1
        row.client_seq = _int(f.get("msg_seq_num")) or row.client_seq
    elif kind == "logout":
        row.ended_by = _text(f.get("initiator"), 8)
        if f.get("reason"):
            row.end_reason = _text(f.get("reason"), 500)
        if row.state != SessionState.REFUSED:
            _end(row, SessionState.LOGGED_OUT, event.time)
    elif kind == "protocol_error":
        row.end_reason = _text(f.get("reason"), 500)
    elif kind == "disconnect":
        row.messages_in = _int(f.get("messages_in")) or row.messages_in
        row.messages_out = _int(f.get("messages_out")) or row.messages_out
        row.rejected = max(row.rejected, _int(f.get("rejected")) or 0)
        row.client_seq = _int(f.get("client_seq")) or row.client_seq
        row.venue_seq = _int(f.get("venue_seq")) or row.venue_seq
        if not row.end_reason:
            row.end_reason = _text(f.get("reason"), 500)
        if row.state in ENDED_STATES:
            row.ended_at = row.ended_at or event.time
        else:
            _end(row, SessionState.DISCONNECTED, event.time)
    row.last_seq = event.seq
    row.boot = event.boot
    return row.state != before, identity_name, fingerprint


def anomalous_geography(fields: Any) -> bool:
    """The PEP scored the unexpected-country signal: a contribution of the geography attribute, ``anomalous``
    (pep/attributes.py), whatever score the bundle's risk rule gave it. ``fields``: the event's (or a stored
    decision's ``inputs``)."""
    contributions = fields.get("contributions") if isinstance(fields, dict) else None
    return any(
        isinstance(c, dict) and c.get("attribute") == "geography" and c.get("condition") == "anomalous"
        for c in contributions or ()
    )


def flagged(event: Event) -> bool:
    """A Logon decision the alert detectors look at at once: denied, or from an unexpected country."""
    return event.type == "logon_decision" and (
        event.fields.get("outcome") == "deny" or anomalous_geography(event.fields)
    )


def decision_fields(event: Event) -> dict[str, Any] | None:
    """The decision-log row of a ``logon_decision`` or ``reject`` event (None for other events)."""
    f = event.fields
    if event.type == "logon_decision":
        return {
            "kind": "logon",
            "outcome": f["outcome"],
            "identity_name": _text(f.get("identity"), 150),
            "sender_comp_id": _text(f.get("sender_comp_id"), 64),
            "msg_type": "A",
            "score": f.get("score"),
            "matched_rule": _text(f.get("matched_rule"), 64),
            "reason": _text(f.get("reason"), 500),
            "bundle_version": f.get("bundle_version"),
        }
    if event.type == "reject":
        return {
            "kind": "reject",
            "outcome": "reject",
            "identity_name": "",
            "sender_comp_id": "",
            "msg_type": _text(f.get("msg_type"), 8),
            "score": None,
            "matched_rule": _text(f.get("rule"), 64),
            "reason": _text(f.get("reason"), 500),
            "bundle_version": None,
        }
    return None
