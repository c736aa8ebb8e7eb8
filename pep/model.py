"""Compiled forms of bundle records that risk attributes and the engine share (built once per bundle load)."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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


@dataclass(frozen=True, slots=True)
class Window:
    """A weekly window in a time zone (trading hours, or an access rule's window), as minute-of-week intervals."""

    timezone: str
    intervals: tuple[tuple[int, int], ...]

    @classmethod
    def compile(cls, spec: dict[str, Any] | None) -> Window | None:
        """Build from the bundle form; an end at or before the start means the window runs past midnight."""
        if spec is None:
            return None
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
        return cls(spec["timezone"], tuple(sorted(intervals)))

    def minute_of_week(self, epoch: float) -> int:
        """Local minute of the week (Monday 00:00 = 0) at ``epoch``."""
        minute = int(epoch) // 60 + _EPOCH_MINUTE_OF_WEEK
        if self.timezone != "UTC":
            minute += _utc_offset_minutes(self.timezone, epoch)
        return minute % MINUTES_PER_WEEK

    def contains(self, epoch: float) -> bool:
        """Whether ``epoch`` (seconds since 1970, UTC) falls inside the window."""
        minute = self.minute_of_week(epoch)
        # A plain loop: any() over a generator costs more than the check itself on the decision path.
        for lo, hi in self.intervals:  # noqa: SIM110
            if lo <= minute < hi:
                return True
        return False


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
    # target id -> grants; filled by the engine
    grants: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    # identity-scoped risk, folded in at load time: (score, contributions)
    base_score: int = 0
    base_contributions: tuple[Any, ...] = ()
    # the time-scoped attributes that apply to this identity, with their risk tables; when empty, decisions
    # for the identity do not depend on the clock and the engine caches them
    time_attributes: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Signals:
    """What session-scoped attributes see: the request and everything resolved from it once per session."""

    identity: IdentityRecord
    request: Any
    device_health: str
    zone: str | None
    ip_country: str | None
    country: str | None
