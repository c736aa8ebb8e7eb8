"""Simulated counterparties: one QuickFIX TLS initiator per demo session, each reconnecting with backoff.

Each session logs on through a PEP with its own certificate and source address (``manifest.json``, built by
``console.demo_fix``); what happens next is the policy's doing, not the simulator's:

* ``quote``: once logged on, a QuoteRequest (35=R) every ``period`` seconds; the venue answers with a Quote;
* ``forbidden``: the same, and every other time a NewOrderSingle (35=D), which the PEP refuses (35=j) because
  the session's access rule does not grant it.

A refused Logon (Logout with the PEP's reason), a connection closed before any answer (a revoked certificate is
refused right after the TLS handshake) and a session ended later (a revocation, a terminate) all end the
attempt; the next one comes after a backoff that doubles up to ``max_backoff`` (with jitter), and resets once a
session has stayed up for a minute.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from pathlib import Path
from typing import Any

import quickfix as fix

from fixsim.configs import BEGIN_STRING, session_settings
from fixsim.output import say

SYMBOLS = ("EUR/USD", "GBP/USD", "USD/JPY", "EUR/GBP")


class Counterparty(fix.Application):
    """One attempt's callbacks: logon, the PEP's Logout text, Quotes and rejects received."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.session_id = None
        self.logged_on = threading.Event()
        self.ended = threading.Event()
        self.logout_text = ""
        self.quotes = 0
        self.rejects = 0

    def onCreate(self, session_id):
        self.session_id = session_id

    def onLogon(self, session_id):
        self.logged_on.set()
        say(self.name, "logged on: the PEP allowed the session and the venue answered")

    def onLogout(self, session_id):
        if self.logged_on.is_set():
            say(self.name, f"session ended{': ' + self.logout_text if self.logout_text else ''}")
        self.ended.set()

    def toAdmin(self, message, session_id):
        pass

    def fromAdmin(self, message, session_id):
        if message.getHeader().getField(fix.MsgType().getField()) == fix.MsgType_Logout:
            text = fix.Text().getField()
            self.logout_text = message.getField(text) if message.isSetField(text) else ""
            self.ended.set()

    def toApp(self, message, session_id):
        pass

    def fromApp(self, message, session_id):
        kind = message.getHeader().getField(fix.MsgType().getField())
        if kind == fix.MsgType_Quote:
            self.quotes += 1
            bid = message.getField(fix.BidPx().getField()) if message.isSetField(fix.BidPx().getField()) else "?"
            offer = message.getField(fix.OfferPx().getField()) if message.isSetField(fix.OfferPx().getField()) else "?"
            symbol = message.getField(fix.Symbol().getField()) if message.isSetField(fix.Symbol().getField()) else ""
            say(self.name, f"Quote {symbol} {bid} / {offer}")
        elif kind == fix.MsgType_BusinessMessageReject:
            self.rejects += 1
            text = message.getField(fix.Text().getField()) if message.isSetField(fix.Text().getField()) else ""
            say(self.name, f"rejected by the PEP (35=j): {text}")
        else:
            say(self.name, f"MsgType {kind} received")


def _message(kind: str) -> Any:
    message = fix.Message()
    message.getHeader().setField(fix.BeginString(BEGIN_STRING))
    message.getHeader().setField(fix.MsgType(kind))
    return message


_ids = itertools.count(1)


def quote_request(name: str) -> Any:
    message = _message(fix.MsgType_QuoteRequest)
    message.setField(fix.QuoteReqID(f"{name}-{next(_ids)}"))
    group = fix.Group(fix.NoRelatedSym().getField(), fix.Symbol().getField())
    group.setField(fix.Symbol(random.choice(SYMBOLS)))
    group.setField(fix.OrderQty(1_000_000))
    message.addGroup(group)
    return message


def new_order(name: str) -> Any:
    message = _message(fix.MsgType_NewOrderSingle)
    message.setField(fix.ClOrdID(f"{name}-order-{next(_ids)}"))
    message.setField(fix.Symbol("EUR/USD"))
    message.setField(fix.Side(fix.Side_BUY))
    message.setField(fix.TransactTime())
    message.setField(fix.OrderQty(1_000_000))
    message.setField(fix.OrdType(fix.OrdType_MARKET))
    return message


class SessionRunner(threading.Thread):
    """Runs one counterparty session until ``stop``: connect, behave, and reconnect with backoff."""

    def __init__(
        self,
        manifest: dict[str, Any],
        session: dict[str, Any],
        folder: Path,
        stop: threading.Event,
        *,
        period: float = 5.0,
        logon_wait: float = 5.0,
        first_backoff: float = 2.0,
        max_backoff: float = 30.0,
    ) -> None:
        super().__init__(name=f"fixsim-{session['name']}", daemon=True)
        self.session = session
        self.settings_path = session_settings(manifest, session, folder)
        (folder / "log" / session["name"]).mkdir(parents=True, exist_ok=True)
        self.stop = stop
        self.period, self.logon_wait = period, logon_wait
        self.first_backoff, self.max_backoff = first_backoff, max_backoff
        self.attempts = 0
        self.logons = 0

    def run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            started = time.monotonic()
            self.attempt()
            if time.monotonic() - started > 60:
                failures = 0
            delay = min(self.max_backoff, self.first_backoff * 2**failures) * random.uniform(0.5, 1.0)
            failures += 1
            self.stop.wait(delay)

    def attempt(self) -> None:
        name = self.session["name"]
        self.attempts += 1
        application = Counterparty(name)
        settings = fix.SessionSettings(str(self.settings_path))
        initiator = fix.SSLSocketInitiator(
            application, fix.MemoryStoreFactory(), settings, fix.FileLogFactory(settings)
        )
        initiator.start()
        try:
            deadline = time.monotonic() + self.logon_wait
            while not (application.logged_on.is_set() or application.ended.is_set()) and time.monotonic() < deadline:
                application.ended.wait(0.05)
            if not application.logged_on.is_set() or self.stop.is_set():
                if application.logout_text:
                    say(name, f"logon refused by the PEP: {application.logout_text}")
                else:
                    say(name, "no logon: the connection closed without an answer (refused at the TLS handshake?)")
                return
            self.logons += 1
            sent = 0
            while not application.ended.is_set() and not self.stop.is_set():
                if self.session["behaviour"] == "forbidden" and sent % 2 == 1:
                    fix.Session.sendToTarget(new_order(name), application.session_id)
                    say(name, "sent a NewOrderSingle (35=D), which its access rule does not grant")
                else:
                    fix.Session.sendToTarget(quote_request(name), application.session_id)
                sent += 1
                application.ended.wait(self.period)
        finally:
            initiator.stop(True)


def run(
    manifest: dict[str, Any], folder: Path, stop: threading.Event, *, only: set[str] | None = None, **timing: float
) -> list[SessionRunner]:
    """Start a runner per session (all of them, or those named in ``only``); they stop when ``stop`` is set."""
    runners = []
    for session in manifest["sessions"]:
        if only and session["name"] not in only:
            continue
        runner = SessionRunner(manifest, session, folder, stop, **timing)
        say(
            session["name"],
            f"{session['identity']} as {session['comp_id']} from {session['source_host']} via the "
            f"{session['environment']} PEP ({session['behaviour']}; the policy should answer: {session['expect']})",
        )
        runner.start()
        runners.append(runner)
    return runners
