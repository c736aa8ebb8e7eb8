"""One FIX session through the gateway: the client's TLS connection, the Logon decision, the venue connection.

Both sides are asyncio protocols (not streams): the relay path is a callback that frames the bytes read,
checks each client message's MsgType against the session's grant, and writes the accepted bytes unchanged to
the other side in one call. Messages the PEP itself sends (Reject, Logout) keep both sequence streams intact:
a refused client message is replaced towards the venue by a SequenceReset-GapFill with its number, and the
venue's messages to the client are renumbered by the count of messages the PEP inserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
import uuid
from typing import TYPE_CHECKING, Any

from pep.engine import DecisionRequest
from pep.gateway import fix
from pep.gateway.tls import PeerCertificate, negotiated_ok, read_peer

if TYPE_CHECKING:
    from pep.gateway.config import Listener
    from pep.gateway.server import Gateway

AWAIT_LOGON, CONNECTING, LIVE, CLOSED = "await_logon", "connecting", "live", "closed"
HELD = "step_up_pending"  # a Logon waiting for the sponsor's approval (pep/gateway/stepup.py)
VENUE_MAX_BODY = 1 << 20
LOGON_REQUIRED = (b"49", b"56", b"34", b"52", b"98", b"108")


def tls_failure(exc: BaseException) -> str:
    """An operator's reason for a failed handshake (unsupported protocol, no shared cipher, bad certificate)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return "TLS handshake timed out"
    return f"TLS handshake failed: {exc or type(exc).__name__}"


async def accept_forever(gateway: Gateway, listener: Listener, server_socket: socket.socket) -> None:
    """Accept TCP, then run each TLS handshake as its own task through ``connect_accepted_socket``, which
    raises when the handshake fails: a refused handshake (old protocol, no shared AEAD cipher, a certificate
    not from the console CA or expired) is then recorded, where a TLS listening socket would drop it silently."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            sock, address = await loop.sock_accept(server_socket)
        except OSError as exc:  # e.g. out of file descriptors: keep serving the sessions there are
            gateway.counters["accept_errors"] += 1
            gateway.events.emit("protocol_error", session="0" * 16, state="accept", reason=str(exc)[:200])
            await asyncio.sleep(0.1)
            continue
        task = loop.create_task(_handshake(gateway, listener, sock, address))
        gateway.handshakes.add(task)  # a reference, so the task is not collected mid-handshake
        task.add_done_callback(gateway.handshakes.discard)


async def _handshake(gateway: Gateway, listener: Listener, sock: socket.socket, address: Any) -> None:
    session = ClientSession(gateway, listener)
    gateway.counters["connections"] += 1
    gateway.events.emit(
        "connection", session=session.id, listener=listener.name, source_ip=address[0], source_port=address[1]
    )
    try:
        await asyncio.get_running_loop().connect_accepted_socket(
            lambda: session, sock, ssl=gateway.server_context, ssl_handshake_timeout=listener.logon_timeout_seconds
        )
    except (OSError, TimeoutError, EOFError) as exc:
        gateway.counters["handshakes_refused"] += 1
        gateway.events.emit("tls_refused", session=session.id, source_ip=address[0], reason=tls_failure(exc))
        with contextlib.suppress(OSError):
            sock.close()


class ClientSession(asyncio.Protocol):
    """The counterparty's side; owns the session's state and the venue side once the Logon is allowed."""

    def __init__(self, gateway: Gateway, listener: Listener) -> None:
        self.gateway = gateway
        self.listener = listener
        self.id = uuid.uuid4().hex[:16]
        self.transport: asyncio.Transport | None = None
        self.venue: VenueSide | None = None
        self.buf = bytearray()
        self.state = AWAIT_LOGON
        self.peer: PeerCertificate | None = None
        self.source_ip: str | None = None
        self.begin_string = "FIX.4.4"
        self.client_comp = ""
        self.venue_comp = ""
        self.identity: str | None = None
        self.device: str | None = None
        self.request: DecisionRequest | None = None
        self.rule: str | None = None
        self.enforced: Any = None
        self.verdicts: dict[str, str | None] = {}
        self.pending: list[bytes] = []
        self._client_seq = 0
        self.last_frame: fix.Frame | None = None
        self.venue_seq = 0
        self.inserted = 0
        self.messages_in = 0
        self.messages_out = 0
        self.rejected = 0
        self.opened_at = time.time()
        self.logon_timer: asyncio.TimerHandle | None = None
        self.close_reason: str | None = None

    @property
    def client_seq(self) -> int:
        """The client's last MsgSeqNum, read from its last message only when needed."""
        if self.last_frame is not None:
            self._client_seq, self.last_frame = self.last_frame.seq, None
        return self._client_seq

    @client_seq.setter
    def client_seq(self, value: int) -> None:
        self._client_seq, self.last_frame = value, None

    # -- connection and handshake ----------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        gateway = self.gateway
        peername = transport.get_extra_info("peername") or ("", 0)
        self.source_ip = peername[0]
        ssl_object = transport.get_extra_info("ssl_object")
        self.peer = read_peer(ssl_object)
        cipher = ssl_object.cipher()
        emit = gateway.events.emit
        emit(
            "tls_handshake",
            session=self.id,
            tls_version=ssl_object.version(),
            cipher=cipher[0] if cipher else None,
            peer_fingerprint=self.peer.fingerprint if self.peer else None,
            peer_subject=self.peer.subject if self.peer else None,
            peer_identity_uri=self.peer.identity_uri_id if self.peer else None,
        )
        enforced = gateway.state.current
        reason = None
        if self.peer is None:
            reason = "no client certificate"
        elif enforced is not None and self.peer.fingerprint in enforced.revoked_certificates:
            reason = "certificate revoked"
        else:
            reason = negotiated_ok(ssl_object, enforced.tls_profile if enforced else gateway.default_profile)
        if reason is not None:
            gateway.counters["handshakes_refused"] += 1
            emit("tls_refused", session=self.id, reason=reason)
            self.state = CLOSED
            self.close_reason = reason
            transport.abort()
            return
        gateway.sessions[self.id] = self
        self.logon_timer = asyncio.get_running_loop().call_later(
            self.listener.logon_timeout_seconds, self._logon_timeout
        )
        gateway.prepare(self)

    def _logon_timeout(self) -> None:
        if self.state == AWAIT_LOGON:
            self.fail(f"no Logon within {self.listener.logon_timeout_seconds:g} s")

    # -- client bytes ----------------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.state == CLOSED:
            return
        buf = self.buf
        buf += data
        try:
            frames = fix.read_frames(buf, self.listener.max_body_length)
        except fix.FixError as exc:
            self.fail(str(exc))
            return
        out: list[bytes] = []
        for frame in frames:
            if self.state == LIVE or self.state == CONNECTING:
                self._relay(frame, out)
            elif self.state == AWAIT_LOGON:
                self._logon(frame)
            elif self.state == HELD:
                self.fail(f"35={frame.msg_type} sent before the Logon was answered")
            if self.state == CLOSED:
                return
        if out:
            self._to_venue(b"".join(out) if len(out) > 1 else out[0])

    def _relay(self, frame: fix.Frame, out: list[bytes]) -> None:
        msg_type = frame.msg_type
        self.last_frame = frame
        self.messages_in += 1
        if msg_type in fix.SESSION_TYPES:
            out.append(frame.raw)
            if msg_type == fix.HEARTBEAT:
                self.gateway.events.emit(
                    "heartbeat", session=self.id, direction="client", msg_seq_num=frame.seq, venue_seq=self.venue_seq
                )
            elif msg_type == fix.LOGOUT:
                self.gateway.events.emit("logout", session=self.id, initiator="client", msg_seq_num=frame.seq)
            return
        if self.enforced is not self.gateway.state.current:
            self.verdicts.clear()
            self.enforced = self.gateway.state.current
        try:
            refusal = self.verdicts[msg_type]
        except KeyError:
            refusal = self.verdicts[msg_type] = self._judge(msg_type)
        if refusal is None:
            out.append(frame.raw)
            return
        self._refuse(frame, refusal, out)

    def _judge(self, msg_type: str) -> str | None:
        if msg_type == fix.LOGON:
            return "already logged on"
        enforced = self.gateway.state.current
        assert self.request is not None
        if enforced is None:
            return "no bundle in force"
        decision = enforced.engine.decide(self.request._replace(message_type=msg_type))
        if decision.outcome == "allow":
            return None
        return f"MsgType {msg_type} is not granted by access rule {self.rule}: {decision.reason}"

    def _refuse(self, frame: fix.Frame, text: str, out: list[bytes]) -> None:
        self.rejected += 1
        self.gateway.counters["messages_rejected"] += 1
        # The venue must not see a hole in the client's numbering: skip the refused number with a GapFill.
        out.append(
            fix.encode(
                self.begin_string,
                "4",
                [
                    (49, self.client_comp),
                    (56, self.venue_comp),
                    (34, frame.seq),
                    (52, fix.sending_time()),
                    (123, "Y"),
                    (36, frame.seq + 1),
                ],
            )
        )
        if frame.msg_type == fix.LOGON:
            reject = [(45, frame.seq), (372, frame.msg_type), (373, 11), (58, text)]
            msg_type = "3"
        else:
            reject = [(45, frame.seq), (372, frame.msg_type), (380, 6), (58, text)]
            msg_type = "j"
        self._to_client_inserted(msg_type, reject)
        self.gateway.events.emit(
            "reject",
            session=self.id,
            msg_type=frame.msg_type,
            msg_seq_num=frame.seq,
            reject_type=msg_type,
            rule=self.rule,
            reason=text,
        )

    # -- logon -----------------------------------------------------------------------------------------------

    def _logon(self, frame: fix.Frame) -> None:
        if frame.msg_type != fix.LOGON:
            self.fail(f"first message must be a Logon (35=A), not 35={frame.msg_type}")
            return
        # The CPU clock is a system call: read outside the wall-clock window, so as not to inflate it.
        started_cpu = time.thread_time_ns()
        started = time.perf_counter_ns()
        try:
            pairs = frame.pairs()
        except fix.FixError as exc:
            self.fail(str(exc))
            return
        get = pairs.get
        self.begin_string = pairs[b"8"].decode("latin-1")
        self.client_comp = get(b"49", b"").decode("latin-1")
        self.venue_comp = get(b"56", b"").decode("latin-1")
        # No comprehension (a function call) unless a field is missing: this path runs with cold caches.
        if not (get(b"49") and get(b"56") and get(b"34") and get(b"52") and get(b"98") and get(b"108")):
            missing = [t.decode() for t in LOGON_REQUIRED if not get(t)]
            outcome, decision, reason = "deny", None, f"Logon lacks required field(s) {', '.join(missing)}"
        else:
            outcome, decision, reason = self.gateway.evaluate(self, None, self.client_comp)
        ended = time.perf_counter_ns()
        self.gateway.cpu_timings.append(time.thread_time_ns() - started_cpu)
        self.gateway.timings.append(ended - started)
        # Everything below is reporting, outside the measured decision.
        self.client_seq = frame.seq
        fields = {int(k): v.decode("latin-1") for k, v in pairs.items() if k != b"554"}
        if outcome == "step_up" and self.gateway.step_ups.applies(self, decision):
            busy = self.gateway.step_ups.busy(self)
            if busy is None:
                self._hold(frame, fields, decision, reason)
                return
            reason = f"{reason}; {busy}"
        if outcome != "allow":
            self._deny(frame, fields, decision, reason)
            return
        self._admit(frame, fields, decision, decision.reason)

    def _hold(self, frame: fix.Frame, fields: dict[int, str], decision: Any, reason: str) -> None:
        """Step-up for algorithms: wait for the sponsor's approval instead of refusing (pep/gateway/stepup.py)."""
        self.state = HELD
        if self.logon_timer is not None:
            self.logon_timer.cancel()

        def proceed(approver: str) -> None:
            if self.state != HELD:
                return
            self.state = AWAIT_LOGON
            # Decided again: a revocation or a new bundle while waiting still refuses the Logon.
            outcome, again, why = self.gateway.evaluate(self, None, self.client_comp)
            if outcome == "deny":
                self._deny(frame, fields, again, why)
            else:
                self._admit(frame, fields, again, f"step-up approved by {approver}")

        def refuse(why: str) -> None:
            if self.state == HELD:
                self.state = AWAIT_LOGON
                self._deny(frame, fields, decision, why)

        self.gateway.step_ups.hold(self, reason, decision, proceed, refuse)

    @property
    def closed(self) -> bool:
        return self.state == CLOSED

    def _admit(self, frame: fix.Frame, fields: dict[int, str], decision: Any, reason: str) -> None:
        self._record_logon(fields, decision, "allow", reason)
        self.rule = decision.matched_rule
        self.enforced = self.gateway.state.current
        self.state = CONNECTING
        if self.logon_timer is not None:
            self.logon_timer.cancel()
        self.pending.append(frame.raw)
        asyncio.get_running_loop().create_task(self._connect_venue())

    def _record_logon(self, fields: dict[int, str], decision: Any, outcome: str, reason: str) -> None:
        self.gateway.counters[f"logons_{outcome}"] += 1
        self.gateway.events.emit(
            "logon_decision",
            session=self.id,
            listener=self.listener.name,
            target=self.listener.target,
            identity=self.identity,
            device=self.device,
            certificate_fingerprint=self.peer.fingerprint if self.peer else None,
            source_ip=self.source_ip,
            sender_comp_id=fields.get(49),
            target_comp_id=fields.get(56),
            begin_string=fields.get(8),
            msg_seq_num=self.client_seq,
            heart_bt_int=fields.get(108),
            reset_seq_num=fields.get(141) == "Y",
            username=fields.get(553),
            outcome=outcome,
            score=decision.score if decision else None,
            contributions=[c._asdict() for c in decision.contributions] if decision else [],
            matched_rule=decision.matched_rule if decision else None,
            bundle_version=decision.bundle_version if decision else None,
            reason=reason,
        )

    def _deny(self, frame: fix.Frame, fields: dict[int, str], decision: Any, reason: str) -> None:
        outcome = "step_up" if decision is not None and decision.outcome == "step_up" else "deny"
        self._record_logon(fields, decision, outcome, reason)
        self.venue_seq = 0
        self.logout(reason, initiator="pep", tell_venue=False)

    async def _connect_venue(self) -> None:
        listener = self.listener
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(
                lambda: VenueSide(self),
                listener.upstream_host,
                listener.upstream_port,
                ssl=self.gateway.upstream_context,
                server_hostname=listener.upstream_server_name,
                ssl_handshake_timeout=listener.logon_timeout_seconds,
            )
        except (OSError, TimeoutError) as exc:
            if self.state != CLOSED:
                self.logout(f"venue unavailable: {exc}", initiator="pep", tell_venue=False)

    def venue_ready(self, venue: VenueSide) -> None:
        self.venue = venue
        if self.state == CLOSED:
            venue.close()
            return
        self.state = LIVE
        data, self.pending = b"".join(self.pending), []
        venue.transport.write(data)

    # -- writing ---------------------------------------------------------------------------------------------

    def _to_venue(self, data: bytes) -> None:
        venue = self.venue
        if venue is not None and self.state == LIVE:
            venue.transport.write(data)
        else:
            self.pending.append(data)

    def _to_client_inserted(self, msg_type: str, fields: list[tuple[int, object]]) -> None:
        """Send a message of the PEP's own to the client, numbered in the venue's stream."""
        self.inserted += 1
        seq = self.venue_seq + self.inserted
        header = [(49, self.venue_comp), (56, self.client_comp), (34, seq), (52, fix.sending_time())]
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(fix.encode(self.begin_string, msg_type, header + fields))

    # -- ending ----------------------------------------------------------------------------------------------

    def logout(self, reason: str, *, initiator: str, tell_venue: bool = True) -> None:
        """Logout (35=5, reason in 58) to the client, and to the venue when it is connected, then close."""
        if self.state == CLOSED:
            return
        self._to_client_inserted("5", [(58, reason)])
        venue = self.venue
        if tell_venue and venue is not None and not venue.transport.is_closing():
            venue.transport.write(
                fix.encode(
                    self.begin_string,
                    "5",
                    [
                        (49, self.client_comp),
                        (56, self.venue_comp),
                        (34, self.client_seq + 1),
                        (52, fix.sending_time()),
                        (58, f"session ended by the enforcement point: {reason}"),
                    ],
                )
            )
        self.gateway.events.emit("logout", session=self.id, initiator=initiator, reason=reason)
        self.close(reason)

    def fail(self, reason: str) -> None:
        """A protocol error: end the connection with the reason (a Logout once the session is known)."""
        self.gateway.counters["protocol_errors"] += 1
        self.gateway.events.emit("protocol_error", session=self.id, state=self.state, reason=reason)
        if self.state in (LIVE, CONNECTING):
            self.logout(reason, initiator="pep")
        else:
            self.close(reason)

    def close(self, reason: str) -> None:
        if self.state == CLOSED:
            return
        self.state = CLOSED
        self.close_reason = reason
        self.gateway.sessions.pop(self.id, None)
        if self.logon_timer is not None:
            self.logon_timer.cancel()
        if self.transport is not None:
            self.transport.close()
        if self.venue is not None:
            self.venue.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.gateway.sessions.pop(self.id, None)
        if self.close_reason is None:
            self.close_reason = "client closed the connection" if exc is None else f"client connection lost: {exc}"
        first_close = self.state != CLOSED
        self.state = CLOSED
        if self.logon_timer is not None:
            self.logon_timer.cancel()
        if self.venue is not None:
            self.venue.close()
        if first_close or self.peer is not None:
            self.gateway.events.emit(
                "disconnect",
                session=self.id,
                reason=self.close_reason,
                messages_in=self.messages_in,
                messages_out=self.messages_out,
                rejected=self.rejected,
                client_seq=self.client_seq,
                venue_seq=self.venue_seq,
                duration_ms=int((time.time() - self.opened_at) * 1000),
            )

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "listener": self.listener.name,
            "identity": self.identity,
            "sender_comp_id": self.client_comp,
            "state": self.state,
            "rule": self.rule,
            "client_seq": self.client_seq,
            "venue_seq": self.venue_seq,
        }


class VenueSide(asyncio.Protocol):
    """The PEP's TLS connection to the venue, relaying to the client and keeping the venue's numbering."""

    def __init__(self, client: ClientSession) -> None:
        self.client = client
        self.buf = bytearray()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.client.venue_ready(self)

    def data_received(self, data: bytes) -> None:
        client = self.client
        buf = self.buf
        buf += data
        try:
            frames = fix.read_frames(buf, VENUE_MAX_BODY)
        except fix.FixError as exc:
            client.logout(f"venue sent a malformed message: {exc}", initiator="pep", tell_venue=False)
            return
        inserted = client.inserted
        out = []
        for frame in frames:
            client.messages_out += 1
            msg_type = frame.msg_type
            if msg_type in fix.SESSION_TYPES or msg_type == fix.LOGON:
                self._session_event(frame)
            out.append(frame.raw if not inserted else fix.with_seq(frame.raw, frame.seq + inserted))
        if frames:
            client.venue_seq = frames[-1].seq
        if out and client.transport is not None:
            client.transport.write(b"".join(out) if len(out) > 1 else out[0])

    def _session_event(self, frame: fix.Frame) -> None:
        client = self.client
        emit = client.gateway.events.emit
        if frame.msg_type == fix.LOGON:
            client.gateway.counters["sessions_established"] += 1
            emit("session_live", session=client.id, venue_seq=frame.seq, identity=client.identity)
        elif frame.msg_type == fix.HEARTBEAT:
            emit("heartbeat", session=client.id, direction="venue", msg_seq_num=frame.seq, client_seq=client.client_seq)
        elif frame.msg_type == fix.LOGOUT:
            emit("logout", session=client.id, initiator="venue", msg_seq_num=frame.seq)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        client = self.client
        if client.state != CLOSED:
            with contextlib.suppress(Exception):
                client.close("venue closed the connection" if exc is None else f"venue connection lost: {exc}")
