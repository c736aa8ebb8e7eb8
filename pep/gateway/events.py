"""Events to the console: batched JSON Lines over HTTP(S), a bounded on-disk spool, delivery in order.

Every event gets a per-process sequence number. Batches are taken from memory every flush interval; a batch the
console does not accept with a 2xx is written to the spool as one file, and nothing newer is sent before the
spool has drained, so the console receives events in the order they happened. When the spool would exceed its
byte limit, the oldest files are dropped and counted (``events_dropped`` in /status): the spool protects the
gateway's disk before the completeness of the feed. Format: docs/pep.md, pep/events.schema.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from pep.gateway.state import utc_now_text

log = logging.getLogger("pep.events")
EVENTS_FORMAT = "ztc-pep-events/1"


class EventSink:
    """Collects events in memory and ships them from a background task (see the module docstring)."""

    def __init__(
        self,
        *,
        pep: str,
        environment: str,
        spool_dir: Path,
        spool_max_bytes: int,
        url: str | None,
        token: str | None,
        ssl_context: ssl.SSLContext | None,
        batch_size: int,
        flush_interval: float,
        timeout: float,
    ) -> None:
        self.pep = pep
        self.environment = environment
        self.boot = uuid.uuid4().hex[:12]
        self.seq = 0
        self.pending: deque[bytes] = deque()
        self.spool_dir = spool_dir
        self.spool_max_bytes = spool_max_bytes
        self.url = url
        self.token = token
        self.ssl_context = ssl_context
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.delivered = 0
        self.dropped = 0
        self.failures = 0
        self.last_error: str | None = None
        spool_dir.mkdir(parents=True, exist_ok=True)
        self._next_file = max((int(p.stem) for p in self._spooled()), default=0) + 1
        self._wake = asyncio.Event()

    def emit(self, event_type: str, **fields: Any) -> None:
        """Queue one event; cheap enough for the session path (one dict, one json.dumps)."""
        self.seq += 1
        # The envelope is written last so that no event field can overwrite it.
        record = {
            **fields,
            "format": EVENTS_FORMAT,
            "pep": self.pep,
            "environment": self.environment,
            "boot": self.boot,
            "seq": self.seq,
            "time": utc_now_text(),
            "type": event_type,
        }
        self.pending.append(json.dumps(record, separators=(",", ":"), default=str).encode())
        if len(self.pending) >= self.batch_size:
            self._wake.set()

    def flush_soon(self) -> None:
        """Ship what is queued now rather than at the next interval (an event the console must act on)."""
        self._wake.set()

    # -- spool --------------------------------------------------------------------------------------------------

    def _spooled(self) -> list[Path]:
        return sorted(self.spool_dir.glob("*.jsonl"), key=lambda p: int(p.stem))

    def spool_bytes(self) -> int:
        return sum(p.stat().st_size for p in self._spooled())

    def _spool(self, lines: list[bytes]) -> None:
        data = b"\n".join(lines) + b"\n"
        files = self._spooled()
        total = sum(p.stat().st_size for p in files)
        while files and total + len(data) > self.spool_max_bytes:
            oldest = files.pop(0)
            size = oldest.stat().st_size
            self.dropped += oldest.read_bytes().count(b"\n")
            oldest.unlink()
            total -= size
        if len(data) > self.spool_max_bytes:
            self.dropped += len(lines)
            return
        path = self.spool_dir / f"{self._next_file:012d}.jsonl"
        self._next_file += 1
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    # -- delivery -----------------------------------------------------------------------------------------------

    def _post(self, body: bytes) -> None:
        assert self.url is not None
        request = urllib.request.Request(  # noqa: S310 - the URL is validated as http(s) by the config
            f"{self.url}/api/v1/enforcement/events",
            data=body,
            method="POST",
            headers={"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout, context=self.ssl_context) as response:  # noqa: S310
            if not 200 <= response.status < 300:
                raise OSError(f"console answered {response.status}")

    async def _deliver(self, body: bytes) -> bool:
        try:
            await asyncio.to_thread(self._post, body)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            self.failures += 1
            self.last_error = str(exc)[:200]
            return False
        return True

    async def flush(self) -> None:
        """Drain the spool in order, then memory; anything undeliverable goes (back) to the spool."""
        if self.url is None:
            # No console configured: the spool is the record (bounded as always).
            while self.pending:
                self._spool(self._take())
            return
        for path in self._spooled():
            data = path.read_bytes()
            if not await self._deliver(data):
                while self.pending:
                    self._spool(self._take())
                return
            self.delivered += data.count(b"\n")
            path.unlink()
        while self.pending:
            batch = self._take()
            if not await self._deliver(b"\n".join(batch) + b"\n"):
                self._spool(batch)
                while self.pending:
                    self._spool(self._take())
                return
            self.delivered += len(batch)

    def _take(self) -> list[bytes]:
        count = min(self.batch_size, len(self.pending))
        return [self.pending.popleft() for _ in range(count)]

    async def run(self) -> None:
        """Flush every interval (sooner when a batch is full); back off while the console is down."""
        delay = self.flush_interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            self._wake.clear()
            failures = self.failures
            started = time.monotonic()
            try:
                await self.flush()
            except OSError as exc:  # disk trouble in the spool: keep serving, say it in /status
                self.last_error = f"spool: {exc}"[:200]
                log.warning("event spool error: %s", exc)
            if self.failures > failures:
                delay = min(max(delay * 2, self.flush_interval), 5.0)
            else:
                delay = max(self.flush_interval - (time.monotonic() - started), 0.001)

    def counters(self) -> dict[str, Any]:
        return {
            "events_emitted": self.seq,
            "events_delivered": self.delivered,
            "events_pending": len(self.pending),
            "events_spooled_bytes": self.spool_bytes(),
            "events_dropped": self.dropped,
            "events_delivery_failures": self.failures,
        }
