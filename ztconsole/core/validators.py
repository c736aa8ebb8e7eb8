"""Pure validators that more than one app needs (time windows, CIDRs), in the lowest layer they share.

Each returns the canonical form or raises ``ValueError`` with a message safe to show; the calling action
turns that into its own refusal and names its own field.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from datetime import date, datetime
from typing import Any

_HHMM = re.compile(r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")


def time_window(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A window (time zone, days 0-6, HH:MM start and end) in canonical form, or None when empty."""
    if not value:
        return None
    try:
        zoneinfo.ZoneInfo(str(value.get("timezone", "UTC")))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value.get('timezone')!r}") from None
    start, end = str(value.get("start", "")), str(value.get("end", ""))
    if not (_HHMM.match(start) and _HHMM.match(end)):
        raise ValueError("window start and end must be HH:MM")
    if start == end:
        raise ValueError("a window's start must differ from its end")
    try:
        days = sorted({int(d) for d in value.get("days", range(7))})
    except (TypeError, ValueError):
        raise ValueError("window days must be integers 0 (Monday) to 6 (Sunday)") from None
    if not days or any(not 0 <= d <= 6 for d in days):
        raise ValueError("window days must be integers 0 (Monday) to 6 (Sunday)")
    return {"timezone": str(value.get("timezone", "UTC")), "days": days, "start": start, "end": end}


def cidr(value: Any) -> str:
    """An IPv4 or IPv6 network with its host bits clear, in canonical form."""
    try:
        network = ipaddress.ip_network(str(value).strip(), strict=True)
    except ValueError:
        raise ValueError(f"{value!r} is not a CIDR with its host bits clear (e.g. 10.1.0.0/16)") from None
    return str(network)


# Dates people filter or report on: wide enough for any record this console holds, narrow enough that the
# margins added to a period (a day, a clock margin, the expiry look-ahead) never leave what Python can represent.
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)


def plausible_date(value: date | datetime | None) -> None:
    """Django-style validator: a date (or datetime) between EARLIEST_DATE and LATEST_DATE, else ValueError."""
    if value is None:
        return
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValueError(f"a date between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}")
