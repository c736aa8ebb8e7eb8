"""Compiled forms of bundle records that risk attributes and the engine share (built once per bundle load)."""

from __future__ import annotations

import zoneinfo
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple

MINUTES_PER_WEEK = 7 * 24 * 60
# 1970-01-01 was a Thursday: day 3 when Monday is day 0.
_EPOCH_MINUTE_OF_WEEK = 3 * 24 * 60

_offset_cache: dict[tuple[str, int], int] = {}


def _utc_offset_minutes(timezone: str, epoch: float) -> int:
    # Offsets only change at transitions, which fall on quarter hours in every zone of the tz database, so one
    # lookup per zone and quarter hour is exact; the cache is dropped wholesale when it grows, never trimmed.
    key = (timezone, int(epoch) // 900)
    offset = _offset_cache.get(key)
    if offset is None:
        if len(_offset_cache) > 65536:
            _offset_cache.clear()
        delta = datetime.fromtimestamp(key[1] * 900, tz=zoneinfo.ZoneInfo(timezone)).utcoffset()
        offset = int(delta.total_seconds()) // 60 if delta is not None else 0
        _offset_cache[key] = offset
    return offset


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


_compiled_windows: dict[tuple[Any, ...], Window] = {}


@dataclass(frozen=True, slots=True)
class Window:
    """A weekly window in a time zone (trading hours, or an access rule's window), as minute-of-week intervals.

    ``minutes`` holds one byte per minute of the week (1 = inside), so that ``contains`` is one index.
    """

    timezone: str
    intervals: tuple[tuple[int, int], ...]
    minutes: bytes = field(default=b"", compare=False, repr=False)
    # the minutes of the week at which the answer changes, with 0 and the week's end: runs for ``state``
    bounds: tuple[int, ...] = field(default=(), compare=False, repr=False)
    # the last answer of ``state``: thousands of identities share a handful of windows and decisions come in time
    # order, so most calls fall in the run the previous one found (one list, replaced whole: thread-safe)
    last: list[tuple[bool, float, float]] = field(
        default_factory=lambda: [(False, 0.0, 0.0)], compare=False, repr=False
    )

    def __post_init__(self) -> None:
        minutes = bytearray(MINUTES_PER_WEEK)
        for lo, hi in self.intervals:
            minutes[lo:hi] = b"\x01" * (hi - lo)
        bounds = {0, MINUTES_PER_WEEK}
        for lo, hi in self.intervals:
            for edge in (lo, hi):
                if 0 < edge < MINUTES_PER_WEEK and minutes[edge - 1] != minutes[edge]:
                    bounds.add(edge)
        object.__setattr__(self, "minutes", bytes(minutes))
        object.__setattr__(self, "bounds", tuple(sorted(bounds)))

    @classmethod
    def compile(cls, spec: dict[str, Any] | None) -> Window | None:
        """Build from the bundle form; an end at or before the start means the window runs past midnight.

        Equal specs give the same (immutable) object: thousands of identities share a handful of windows.
        """
        if spec is None:
            return None
        key = (spec["timezone"], tuple(spec["days"]), spec["start"], spec["end"])
        window = _compiled_windows.get(key)
        if window is not None:
            return window
        start, end = _minutes(spec["start"]), _minutes(spec["end"])
        length = end - start if end > start else end + 1440 - start
        intervals: list[tuple[int, int]] = []
        for day in spec["days"]:
            lo = day * 1440 + start
            hi = lo + length
            if hi <= MINUTES_PER_WEEK:
                intervals.append((lo, hi))
            else:  # Sunday evening into Monday morning wraps around the week
                intervals.extend([(lo, MINUTES_PER_WEEK), (0, hi - MINUTES_PER_WEEK)])
        window = cls(spec["timezone"], tuple(sorted(intervals)))
        if len(_compiled_windows) > 4096:
            _compiled_windows.clear()
        _compiled_windows[key] = window
        return window

    def minute_of_week(self, epoch: float) -> int:
        """Local minute of the week (Monday 00:00 = 0) at ``epoch``."""
        minute = int(epoch) // 60 + _EPOCH_MINUTE_OF_WEEK
        if self.timezone != "UTC":
            minute += _utc_offset_minutes(self.timezone, epoch)
        return minute % MINUTES_PER_WEEK

    def contains(self, epoch: float) -> bool:
        """Whether ``epoch`` (seconds since 1970, UTC) falls inside the window."""
        return self.minutes[self.minute_of_week(epoch)] == 1

    def span(self, epoch: float) -> tuple[int, int]:
        """``[start, end)`` in epoch seconds around ``epoch`` during which ``contains`` keeps its answer."""
        _, start, end = self.state(epoch)
        return start, end

    def state(self, epoch: float) -> tuple[bool, int, int]:
        """``(contains(epoch), start, end)``: the answer and the epoch seconds ``[start, end)`` it holds for.

        Conservative (the true run may be longer): cut at the week's edges, and for zones other than UTC at the
        quarter hour, the granularity at which UTC offsets are looked up.
        """
        last = self.last[0]
        if last[1] <= epoch < last[2]:
            return last
        second = int(epoch)
        utc = self.timezone == "UTC"
        offset = 0 if utc else _utc_offset_minutes(self.timezone, epoch)
        local = second // 60 + _EPOCH_MINUTE_OF_WEEK + offset
        minute = local % MINUTES_PER_WEEK
        bounds = self.bounds
        at = bisect_right(bounds, minute)
        base = (local - minute - _EPOCH_MINUTE_OF_WEEK - offset) * 60  # epoch second of the local Monday 00:00
        start, end = base + bounds[at - 1] * 60, base + bounds[at] * 60
        if not utc:
            quarter = second - second % 900
            start, end = max(start, quarter), min(end, quarter + 900)
        answer = (self.minutes[minute] == 1, start, end)
        self.last[0] = answer
        return answer


# The grants of an identity with no grant table: one read-only mapping shared by all of them.
NO_GRANTS: Mapping[str, tuple[Any, ...]] = MappingProxyType({})


@dataclass(slots=True)
class IdentityRecord:
    """An identity as the engine keeps it: flags, lookups and the grants reachable through its memberships."""

    id: str
    status: str
    privileged: bool
    expected_countries: frozenset[str]
    trading_hours: Window | None
    desk: str | None
    groups: tuple[str, ...]
    roles: tuple[str, ...]
    certificates: frozenset[str]
    # target id -> grants, one table for the identity itself and one per membership that has grants; shared
    # between identities and merged per target when a decision needs it (Engine.grants)
    grant_tables: tuple[dict[str, tuple[Any, ...]], ...] = ()
    # target id -> the grants of all those tables, merged in rule-id order: the one table itself when there is
    # one; else filled as decisions need targets, and shared by the identities with the same tables
    grants: Mapping[str, tuple[Any, ...]] = field(default_factory=lambda: NO_GRANTS)
    # whether ``grants`` is filled on demand (several tables) rather than being the identity's only table
    merges: bool = False
    # identity-scoped risk, folded in at load time: (score, contributions)
    base_score: int = 0
    base_contributions: tuple[Any, ...] = ()
    # the time-scoped attributes that apply to this identity, with their risk tables; when empty, decisions
    # for the identity do not depend on the clock and the engine caches them
    time_attributes: tuple[Any, ...] = ()
    # identities with the same identity-scoped contributions share a class: session risk is memoised per class
    risk_class: int = 0
    # the risk class with the identity fields the session attributes read: the identity's part of the memo key of
    # session risk
    session_class: int = 0


class Signals(NamedTuple):
    """What session-scoped attributes see: the request and everything resolved from it once per session."""

    identity: IdentityRecord
    request: Any
    device_health: str
    zone: str | None
    ip_country: str | None
    country: str | None
