"""The gateway process: listeners, control API, console pull, event feed, and the rules that tie them.

``run(config)`` is what ``python -m pep serve`` calls. Once everything is bound it prints one JSON line on
standard output, ``{"ready": true, "listeners": {name: port}, "control": port, ...}``, so that a supervisor (or a
test) started with port 0 learns the real ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from typing import Any

from pep.bundle import BundleError, RollbackError, key_ring, load_public_key, tune_collector
from pep.engine import ALLOW, STEP_UP, DecisionRequest
from pep.gateway import tls
from pep.gateway.config import Config
from pep.gateway.control import start_control
from pep.gateway.events import EventSink
from pep.gateway.relay import CONNECTING, LIVE, ClientSession, accept_forever
from pep.gateway.state import Enforced, PolicyState, refusal_reason, verify_revocation_delta
from pep.gateway.stepup import StepUpApprovals

log = logging.getLogger("pep.gateway")
_new_tuple = tuple.__new__


def _percentile(values: list[int], q: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Gateway:
    """Everything one PEP process holds; the event loop thread owns the sessions."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.keys = key_ring(*(load_public_key(p) for p in config.public_keys))
        self.state = PolicyState(self.keys, config.environment, config.state_dir)
        self.state_lock = threading.Lock()
        self.sessions: dict[str, ClientSession] = {}
        self.handshakes: set[asyncio.Task[None]] = set()
        self.counters: Counter[str] = Counter()
        # Logon decision times, wall clock and this thread's CPU time (the difference is time not scheduled).
        self.timings: deque[int] = deque(maxlen=100_000)
        self.cpu_timings: deque[int] = deque(maxlen=100_000)
        # The same for the session opened when the handshake completes (``prepare``), off the Logon's path.
        self.prepare_timings: deque[int] = deque(maxlen=100_000)
        self.started_at = time.time()
        self.default_profile = tls.DEFAULT_TLS_PROFILE
        self.loop: asyncio.AbstractEventLoop | None = None
        self.fail_closed_reported = False
        self.console_reachable: bool | None = None
        self.token = config.token_file.read_text().strip() if config.token_file else None
        self.console_context = tls.client_context(
            self.default_profile, config.ca_chain, config.certificate, config.private_key
        )
        self.events = EventSink(
            pep=config.name,
            environment=config.environment,
            spool_dir=config.state_dir / "spool",
            spool_max_bytes=config.spool_max_bytes,
            url=config.console_url,
            token=self.token,
            ssl_context=self.console_context if (config.console_url or "").startswith("https") else None,
            batch_size=config.events_batch_size,
            flush_interval=config.events_flush_interval_seconds,
            timeout=config.request_timeout_seconds,
        )
        self.step_ups = StepUpApprovals(self)
        profile = self.profile()
        self.server_context = tls.server_context(profile, config.ca_chain, config.certificate, config.private_key)
        self.upstream_context = tls.client_context(profile, config.ca_chain, config.certificate, config.private_key)
        self.control_context = tls.server_context(
            self.default_profile, config.ca_chain, config.certificate, config.private_key
        )

    def profile(self) -> dict[str, Any]:
        current = self.state.current
        return current.tls_profile if current is not None else self.default_profile

    def _apply_profile(self) -> None:
        profile = self.profile()
        try:
            tls._harden(self.server_context, profile)
            tls._harden(self.upstream_context, profile)
        except (tls.TlsProfileError, ssl.SSLError) as exc:
            # A signed bundle with a profile this PEP cannot apply keeps the previous settings, loudly.
            self.events.emit("tls_profile_refused", reason=str(exc))

    # -- decisions --------------------------------------------------------------------------------------------

    def status_word(self) -> str:
        if self.state.current is None:
            return "no_bundle"
        age = self.state.bundle_age()
        if age is None or age > self.config.max_bundle_age_seconds:
            return "fail_closed"
        return "ok"

    def evaluate(self, session: ClientSession, enforced: Enforced | None, sender_comp_id: str) -> tuple[str, Any, str]:
        """``(outcome, decision, reason)``: certificate, SenderCompID, revocations, binding, then the engine.

        ``enforced`` None is a Logon: decided against the bundle in force, once its freshness is checked (fail
        closed past the maximum age). ``redecide`` passes the generation it re-checks live sessions against. One
        function rather than a Logon wrapper around it: a Logon runs with cold caches (it is the first thing a
        connection does), where every Python call costs microseconds.
        """
        if enforced is None:
            state = self.state
            enforced = state.current
            if enforced is None:
                return "deny", None, "no policy bundle in force: the enforcement point fails closed"
            confirmed = state.confirmed_at  # PolicyState.bundle_age, inline
            age = None if confirmed is None else time.time() - confirmed
            if age is None or age > self.config.max_bundle_age_seconds:
                return (
                    "deny",
                    None,
                    f"policy bundle not confirmed by the console for {int(age or 0)} s "
                    f"(max {self.config.max_bundle_age_seconds} s): the enforcement point fails closed",
                )
        peer = session.peer
        assert peer is not None
        fingerprint = peer.fingerprint
        if fingerprint in enforced.revoked_certificates:
            return "deny", None, "certificate revoked"
        if sender_comp_id not in peer.comp_ids:
            owned = ", ".join(sorted(peer.comp_ids)) or "none"
            return "deny", None, f"SenderCompID {sender_comp_id} is not one of the certificate's ({owned})"
        if peer.identity_uri_id is None:
            return "deny", None, "the certificate names no identity (urn:ztconsole:identity:...)"
        binding = enforced.bindings.get(fingerprint)
        identity = binding.identity if binding else peer.identity_uri_id
        device = binding.device if binding else None
        session.identity, session.device = identity, device
        if identity in enforced.revoked_identities:
            return "deny", None, f"identity {identity} revoked"
        if device is not None and device in enforced.revoked_devices:
            return "deny", None, f"device {device} revoked"
        # DecisionRequest(identity, target, message_type, authentication, device, source_ip, country,
        # certificate_fingerprint, time), built in C rather than through the named tuple's Python __new__.
        request = _new_tuple(
            DecisionRequest,
            (
                identity,
                session.listener.target,
                "A",
                binding.authentication if binding else "none",
                device,
                session.source_ip,
                None,
                fingerprint,
                None,
            ),
        )
        session.request = request
        decision = enforced.engine.decide(request)
        if decision.outcome == ALLOW:
            # The explanation is formatted after the decision is enforced (Decision.reason is lazy).
            return "allow", decision, ""
        if decision.outcome == STEP_UP:
            return "step_up", decision, f"step-up required: {decision.reason}"
        return "deny", decision, decision.reason

    def prepare(self, session: ClientSession) -> None:
        """Open the engine's session for a connection whose handshake has just completed.

        Every input of the Logon decision but the SenderCompID is known once the client certificate is verified:
        identity, certificate, device, authentication, source address, the listener's target. Deciding then, while
        the client's Logon is still on its way, opens the engine's session (identity lookup, address, session
        risk) and warms the processor's caches after the handshake, so that the Logon's own decision, taken by
        ``evaluate`` exactly as without this step, is a lookup. The answer here is discarded: nothing is enforced
        or reported from it, and a bundle swapped in between is simply decided again at the Logon.
        """
        peer = session.peer
        if peer is None or not peer.comp_ids:
            return
        started = time.perf_counter_ns()
        self.evaluate(session, None, next(iter(peer.comp_ids)))
        session.identity = session.device = session.request = None
        self.prepare_timings.append(time.perf_counter_ns() - started)

    def redecide(self, why: str) -> list[str]:
        """Run on the loop after every bundle or revocation change: end the sessions no longer allowed."""
        enforced = self.state.current
        ended = []
        for session in list(self.sessions.values()):
            if session.state not in (LIVE, CONNECTING) or enforced is None:
                continue
            outcome, _decision, reason = self.evaluate(session, enforced, session.client_comp)
            if outcome != "allow":
                session.logout(f"{why}: {reason}", initiator="pep")
                self.counters["sessions_terminated"] += 1
                ended.append(session.id)
        return ended

    # -- control API (called on the control thread) -----------------------------------------------------------

    def on_loop(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the event loop and wait for its result."""
        assert self.loop is not None

        async def call() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout=10)

    def control_call(self, name: str, *args: Any) -> tuple[int, dict[str, Any]]:
        self.counters[f"control_{name}"] += 1
        try:
            return getattr(self, f"_control_{name}")(*args)
        except Exception:  # the API must answer; the detail goes to the log, not to the caller
            log.exception("control %s failed", name)
            return 500, {"status": "error", "detail": "internal error; see the PEP's log"}

    def _control_status(self) -> tuple[int, dict[str, Any]]:
        return 200, self.on_loop(self.status)

    def _control_put_bundle(self, body: bytes, encoding: str = "identity") -> tuple[int, dict[str, Any]]:
        return self.apply_bundle(body, source="push", encoding=encoding)

    def apply_bundle(self, body: bytes, *, source: str, encoding: str = "identity") -> tuple[int, dict[str, Any]]:
        with self.state_lock:
            try:
                status, enforced = self.state.apply_bundle(body, encoding=encoding)
            except BundleError as exc:
                reason, detail = refusal_reason(exc), str(exc)
                current = self.state.current
                self.on_loop(
                    lambda: self.events.emit("bundle_refused", source=source, reason=reason, detail=detail[:500])
                )
                self.counters["bundles_refused"] += 1
                if isinstance(exc, RollbackError):
                    return 409, {
                        "status": "refused",
                        "reason": "lower_version",
                        "detail": str(exc),
                        "version": current.bundle.version if current else None,
                        "sha256": current.bundle.sha256 if current else None,
                    }
                return 422, {"status": "refused", "reason": reason, "detail": str(exc)}
        bundle = enforced.bundle
        if status == "applied":
            self.counters["bundles_applied"] += 1

            def swap() -> list[str]:
                self._apply_profile()
                self.fail_closed_reported = False
                self.events.emit("bundle_applied", source=source, version=bundle.version, sha256=bundle.sha256)
                return self.redecide(f"policy version {bundle.version}")

            self.on_loop(swap)
        return 200, {"status": status, "version": bundle.version, "sha256": bundle.sha256}

    def _control_post_revocations(self, body: bytes) -> tuple[int, dict[str, Any]]:
        with self.state_lock:
            try:
                delta = verify_revocation_delta(body, self.keys, self.config.environment)
            except BundleError as exc:
                return 422, {"status": "refused", "reason": refusal_reason(exc), "detail": str(exc)}
            status = self.state.apply_delta(delta)
            sequence = self.state.sequence
        if status == "sequence_gap":
            self.on_loop(lambda: self.events.emit("revocation_refused", sequence=delta.sequence, last=sequence))
            return 409, {"status": "refused", "reason": "sequence_gap", "sequence": sequence}
        if status == "already_applied":
            return 200, {"status": "already_applied", "sequence": sequence}

        def apply() -> list[str]:
            self.events.emit(
                "revocation_applied",
                sequence=delta.sequence,
                certificates=delta.certificates,
                identities=delta.identities,
                devices=delta.devices,
            )
            return self.redecide(f"revocation {delta.sequence}")

        return 200, {"status": "applied", "sequence": delta.sequence, "terminated": self.on_loop(apply)}

    def _control_terminate(self, session_id: str, reason: str) -> tuple[int, dict[str, Any]]:
        def terminate() -> bool:
            session = self.sessions.get(session_id)
            if session is None:
                return False
            session.logout(reason, initiator="console")
            self.counters["sessions_terminated"] += 1
            return True

        if self.on_loop(terminate):
            return 200, {"status": "terminated", "session": session_id}
        return 404, {"status": "not_found"}

    def status(self) -> dict[str, Any]:
        current = self.state.current
        bundle = current.bundle if current else None
        age = self.state.bundle_age()
        timings = list(self.timings)
        live = [s for s in self.sessions.values() if s.state == LIVE]
        return {
            "status": self.status_word(),
            "pep": self.config.name,
            "environment": self.config.environment,
            "version": bundle.version if bundle else None,
            "sha256": bundle.sha256 if bundle else None,
            "bundle_issued_at": bundle.payload.get("issued_at") if bundle else None,
            "bundle_confirmed_at": _utc(self.state.confirmed_at) if bundle else None,
            "bundle_age_seconds": None if age is None else round(age, 3),
            "max_bundle_age_seconds": self.config.max_bundle_age_seconds,
            "revocation_sequence": self.state.sequence,
            "console_reachable": self.console_reachable,
            "sessions": {"live": len(live), "list": [s.describe() for s in live][:1000]},
            "counters": {
                **dict(self.counters),
                **self.events.counters(),
                "logon_decisions_measured": len(timings),
                "logon_decision_p50_ns": _percentile(timings, 0.5),
                "logon_decision_p99_ns": _percentile(timings, 0.99),
                "logon_decision_cpu_p50_ns": _percentile(list(self.cpu_timings), 0.5),
                "logon_decision_cpu_p99_ns": _percentile(list(self.cpu_timings), 0.99),
                "logon_prepared_p50_ns": _percentile(list(self.prepare_timings), 0.5),
                "logon_prepared_p99_ns": _percentile(list(self.prepare_timings), 0.99),
            },
            "started_at": _utc(self.started_at),
            # Process-wide: bundles verified and compiled by this process, and loads answered from one of them by
            # another (or the same) enforcement point of the process (docs/pep.md, "Several points, one process").
            "process": {
                "pid": os.getpid(),
                "bundles_compiled": self.state.shared.builds,
                "bundles_shared": self.state.shared.hits,
            },
        }

    # -- console pull -----------------------------------------------------------------------------------------

    def _fetch_bundle(self) -> tuple[int, bytes]:
        config = self.config
        headers = {"Authorization": f"Bearer {self.token}"}
        current = self.state.current
        if current is not None:
            headers["If-None-Match"] = f'"{current.bundle.sha256}"'
        request = urllib.request.Request(  # noqa: S310 - http(s) checked by the config
            f"{config.console_url}/api/v1/enforcement/bundle?environment={config.environment}", headers=headers
        )
        context = self.console_context if config.console_url.startswith("https") else None  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(request, timeout=config.request_timeout_seconds, context=context) as reply:  # noqa: S310
                return reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, b""

    async def pull(self) -> None:
        """Fetch the latest bundle for the environment; a 304 (or the same hash) confirms the one in force."""
        if self.config.console_url is None:
            return
        try:
            code, body = await asyncio.to_thread(self._fetch_bundle)
            if code >= 500:
                raise OSError(f"console answered {code}")
        except (OSError, urllib.error.URLError, ValueError) as exc:
            self.counters["console_pull_failures"] += 1
            if self.console_reachable is not False:
                self.events.emit("console_unreachable", detail=str(exc)[:200])
            self.console_reachable = False
            return
        if self.console_reachable is False:
            self.events.emit("console_reachable")
        self.console_reachable = True
        if code == 200:
            await asyncio.to_thread(self._pull_apply, body)
        elif code == 304:
            self.state.confirm()
        else:
            self.counters[f"console_pull_{code}"] += 1

    def _pull_apply(self, body: bytes) -> None:
        self.apply_bundle(body, source="pull")

    async def poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_interval_seconds)
            await self.pull()
            if self.status_word() == "fail_closed" and not self.fail_closed_reported:
                self.fail_closed_reported = True
                self.events.emit("fail_closed", bundle_age_seconds=self.state.bundle_age())


def _utc(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class _Served:
    """What serving one enforcement point holds between its start and its stop."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.servers: list[socket.socket] = []
        self.accepting: list[asyncio.Task[None]] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.control: Any = None
        self.ports: dict[str, int] = {}

    async def start(self) -> dict[str, Any]:
        """Restore, bind, serve the control API, pull; returns the ready line."""
        gateway, config = self.gateway, self.gateway.config
        loop = asyncio.get_running_loop()
        gateway.loop = loop
        problem = await asyncio.to_thread(gateway.state.restore)
        if problem:
            gateway.events.emit("bundle_refused", source="disk", reason="stored", detail=problem)
        # The pull runs on a worker thread and calls back into the loop, so the loop must be running: serve first.
        for listener in config.listeners:
            server = socket.create_server((listener.host, listener.port), backlog=1024)
            server.setblocking(False)
            self.servers.append(server)
            self.accepting.append(loop.create_task(accept_forever(gateway, listener, server)))
            self.ports[listener.name] = server.getsockname()[1]
        self.control = start_control(gateway, config.control_host, config.control_port, gateway.control_context)
        await gateway.pull()
        gateway._apply_profile()
        self.tasks = [loop.create_task(gateway.events.run()), loop.create_task(gateway.poll_forever())]
        current = gateway.state.current
        gateway.events.emit("started", listeners=self.ports, version=current.bundle.version if current else None)
        return {
            "ready": True,
            "pep": config.name,
            "listeners": self.ports,
            "control": self.control.server_address[1],
            "status": gateway.status_word(),
        }

    async def stop(self) -> None:
        gateway = self.gateway
        for task in self.accepting:
            task.cancel()
        for server in self.servers:
            server.close()
        for session in list(gateway.sessions.values()):
            session.logout("enforcement point shutting down", initiator="pep")
        gateway.events.emit("stopped")
        for task in self.tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(gateway.events.flush(), timeout=gateway.config.request_timeout_seconds)
        if self.control is not None:
            self.control.shutdown()


async def _main(configs: list[Config]) -> None:
    # Every enforcement point of the process shares the event loop and the verified bundles (state.SHARED_BUNDLES);
    # each keeps its own certificate, control API, state directory, console link, events and listeners.
    served = [_Served(Gateway(config)) for config in configs]
    for one in served:
        print(json.dumps(await one.start()), flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await asyncio.gather(*(one.stop() for one in served))


def run(config: Config | list[Config]) -> int:
    """Serve one enforcement point, or several in this process, until SIGTERM/SIGINT; uvloop when installed."""
    configs = config if isinstance(config, list) else [config]
    tune_collector()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    try:
        import uvloop
    except ImportError:
        asyncio.run(_main(configs))
    else:
        uvloop.run(_main(configs))
    return 0
