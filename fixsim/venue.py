"""A simulated RFQ venue: a QuickFIX TLS acceptor that answers every QuoteRequest (35=R) with a Quote (35=S).

The PEPs are its only clients (their ``pep`` certificates, from the demo CA); each counterparty CompID is one
QuickFIX session. What it sees is printed, one line per event, so its log shows what the PEPs let through.
"""

from __future__ import annotations

import itertools
import random
import threading
from pathlib import Path

import quickfix as fix

from fixsim.configs import BEGIN_STRING, venue_settings
from fixsim.output import say


class RfqVenue(fix.Application):
    """Quotes a two-way price around a mid that wanders a little, per symbol."""

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self._mids: dict[str, float] = {}
        self._lock = threading.Lock()

    def onCreate(self, session_id):
        pass

    def onLogon(self, session_id):
        say("venue", f"{session_id.getTargetCompID().getValue()} logged on (through a PEP)")

    def onLogout(self, session_id):
        say("venue", f"{session_id.getTargetCompID().getValue()} logged out")

    def toAdmin(self, message, session_id):
        pass

    def fromAdmin(self, message, session_id):
        pass

    def toApp(self, message, session_id):
        pass

    def fromApp(self, message, session_id):
        kind = message.getHeader().getField(fix.MsgType().getField())
        who = session_id.getTargetCompID().getValue()
        if kind != fix.MsgType_QuoteRequest:
            say("venue", f"{who}: MsgType {kind} received, not handled")
            return
        request_id = message.getField(fix.QuoteReqID().getField())
        symbol = _first_symbol(message) or "EUR/USD"
        with self._lock:
            mid = self._mids.get(symbol, 1.0850) * (1 + random.uniform(-0.0004, 0.0004))
            self._mids[symbol] = mid
            quote_id = f"Q{next(self._ids)}"
        quote = fix.Message()
        quote.getHeader().setField(fix.BeginString(BEGIN_STRING))
        quote.getHeader().setField(fix.MsgType(fix.MsgType_Quote))
        quote.setField(fix.QuoteReqID(request_id))
        quote.setField(fix.QuoteID(quote_id))
        quote.setField(fix.Symbol(symbol))
        quote.setField(fix.BidPx(round(mid - 0.0002, 5)))
        quote.setField(fix.OfferPx(round(mid + 0.0002, 5)))
        quote.setField(fix.BidSize(1_000_000))
        quote.setField(fix.OfferSize(1_000_000))
        fix.Session.sendToTarget(quote, session_id)
        say("venue", f"{who}: QuoteRequest {request_id} {symbol} -> Quote {quote_id}")


def _first_symbol(message) -> str | None:
    # Without a data dictionary QuickFIX keeps repeating-group fields flat in the body: 55 is readable as is.
    symbol = fix.Symbol().getField()
    if message.isSetField(symbol):
        return message.getField(symbol)
    try:
        group = fix.Group(fix.NoRelatedSym().getField(), symbol)
        message.getGroup(1, group)
        return group.getField(symbol)
    except (fix.FieldNotFound, KeyError, RuntimeError):
        return None


def run(manifest: dict, folder: Path, stop: threading.Event) -> None:
    """Serve until ``stop`` is set."""
    settings = fix.SessionSettings(str(venue_settings(manifest, folder)))
    (folder / "log" / "venue").mkdir(parents=True, exist_ok=True)
    application = RfqVenue()
    acceptor = fix.SSLSocketAcceptor(application, fix.MemoryStoreFactory(), settings, fix.FileLogFactory(settings))
    acceptor.start()
    say("venue", f"RFQ venue {manifest['venue']['comp_id']} listening on port {manifest['venue']['port']} (TLS)")
    while not stop.wait(0.2):
        pass
    acceptor.stop()
