"""Step-up for algorithms: a non-person identity's Logon in the step-up band waits for its sponsor's approval.

When ``console.step_up_approval_seconds`` is set and the identity has a sponsor in the bundle (only non-person
identities have one), the Logon is held instead of refused: no venue connection, a ``step_up_requested`` event
to the console, then ``GET {console}/api/v1/enforcement/step-up/<session>`` with the PEP's bearer token every
``POLL_SECONDS`` (in a worker thread: the event loop never waits on the console) until the console answers
``approved`` (the Logon proceeds exactly as an allowed one), ``refused`` or ``expired``, or the window ends (a
Logout with the reason in 58, as for any step-up). Format and rules: docs/pep.md, "Step-up for algorithms".
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pep.gateway.relay import ClientSession
    from pep.gateway.server import Gateway

log = logging.getLogger("pep.stepup")
POLL_SECONDS = 0.25
# Held Logons cost a poll of the console every POLL_SECONDS each: at most this many at once per PEP, and one per
# identity (an algorithm reconnecting in a loop must not queue approvals its sponsor cannot tell apart).
MAX_HELD = 64
ANSWERS = ("pending", "approved", "refused", "expired")


class StepUpApprovals:
    """The gateway's held Logons and the sponsor look-up of the bundle in force."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.window = gateway.config.step_up_approval_seconds
        self._sponsors: tuple[Any, dict[str, str]] = (None, {})
        self.tasks: set[asyncio.Task] = set()
        self.held: dict[str, str] = {}  # identity -> the session id of its held Logon

    def sponsor_of(self, identity: str | None) -> str | None:
        """The identity's sponsor in the bundle in force (None for a person, or when the bundle has none)."""
        enforced = self.gateway.state.current
        if enforced is None or identity is None:
            return None
        cached_for, sponsors = self._sponsors
        if cached_for is not enforced:
            payload = enforced.bundle.payload
            sponsors = {i["id"]: i["sponsor"] for i in payload.get("identities", ()) if i.get("sponsor")}
            self._sponsors = (enforced, sponsors)
        return sponsors.get(identity)

    def applies(self, session: ClientSession, decision: Any) -> bool:
        return (
            self.window > 0
            and self.gateway.config.console_url is not None
            and decision is not None
            and decision.outcome == "step_up"
            and self.sponsor_of(session.identity) is not None
        )

    def busy(self, session: ClientSession) -> str | None:
        """Why this Logon cannot be held too (refused at once instead), or None."""
        if session.identity in self.held:
            self.gateway.counters["step_ups_refused_busy"] += 1
            return f"a Logon of {session.identity} already awaits its sponsor's approval"
        if len(self.held) >= MAX_HELD:
            self.gateway.counters["step_ups_refused_busy"] += 1
            return f"{MAX_HELD} Logons already await approval at this enforcement point"
        return None

    def hold(self, session: ClientSession, reason: str, decision: Any, proceed: Any, refuse: Any) -> None:
        """Announce the held Logon and start asking the console; ``proceed(approver)`` or ``refuse(reason)``
        is called on the event loop once it is answered."""
        expires = datetime.now(UTC) + timedelta(seconds=self.window)
        self.gateway.counters["step_ups_held"] += 1
        self.gateway.events.emit(
            "step_up_requested",
            session=session.id,
            listener=session.listener.name,
            target=session.listener.target,
            identity=session.identity,
            sponsor=self.sponsor_of(session.identity),
            sender_comp_id=session.client_comp,
            source_ip=session.source_ip,
            score=decision.score,
            matched_rule=decision.matched_rule,
            bundle_version=decision.bundle_version,
            reason=reason,
            expires=expires.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        )
        self.gateway.events.flush_soon()
        assert session.identity is not None  # applies() needs a sponsor, hence an identity
        self.held[session.identity] = session.id
        task = asyncio.get_running_loop().create_task(self._wait(session, reason, proceed, refuse))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _wait(self, session: ClientSession, reason: str, proceed: Any, refuse: Any) -> None:
        try:
            await self._poll(session, reason, proceed, refuse)
        except Exception as exc:  # a held Logon must never be left hanging: end the connection, say why
            log.exception("step-up approval of session %s failed", session.id)
            if not session.closed:
                session.fail(f"step-up approval failed: {type(exc).__name__}")
        finally:
            if self.held.get(session.identity or "") == session.id:
                del self.held[session.identity or ""]

    async def _poll(self, session: ClientSession, reason: str, proceed: Any, refuse: Any) -> None:
        deadline = time.monotonic() + self.window
        while time.monotonic() < deadline:
            if session.closed:
                return
            answer = await asyncio.to_thread(self._ask, session.id)
            if session.closed:
                return
            status = answer.get("status")
            if status == "approved":
                self.gateway.counters["step_ups_approved"] += 1
                proceed(str(answer.get("approver") or "the sponsor"))
                return
            if status == "refused":
                self.gateway.counters["step_ups_refused"] += 1
                by = f" by {answer['approver']}" if answer.get("approver") else ""
                refuse(f"{reason}; step-up refused{by} in the console")
                return
            if status == "expired":
                break
            await asyncio.sleep(max(0.0, min(POLL_SECONDS, deadline - time.monotonic())))
        self.gateway.counters["step_ups_expired"] += 1
        refuse(f"{reason}; no approval within {self.window:g} s")

    def _ask(self, session_id: str) -> dict[str, Any]:
        """One question to the console (worker thread); any failure counts as still pending."""
        gateway = self.gateway
        url = gateway.config.console_url
        request = urllib.request.Request(  # noqa: S310 - http(s) checked by the config
            f"{url}/api/v1/enforcement/step-up/{session_id}",
            headers={"Authorization": f"Bearer {gateway.token}", "Accept": "application/json"},
        )
        context = gateway.console_context if (url or "").startswith("https") else None
        timeout = min(gateway.config.request_timeout_seconds, max(self.window, 0.1))
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as reply:  # noqa: S310
                body = json.loads(reply.read(65536))
        except urllib.error.HTTPError as exc:
            return {"status": "pending", "http": exc.code}
        except (OSError, urllib.error.URLError, ValueError):
            return {"status": "pending"}
        if not isinstance(body, dict) or body.get("status") not in ANSWERS:
            return {"status": "pending"}
        return body
