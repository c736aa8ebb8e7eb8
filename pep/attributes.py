"""The risk attribute registry: the one place to add a risk attribute (docs/bundle.md, "How to add a risk attribute").

Each attribute names the conditions a risk rule can score and a function that says which condition holds. The
scope says when the engine evaluates it, which is what keeps decisions fast:

* ``identity``: ``evaluate(identity) -> condition``, once per identity when a bundle loads;
* ``session``: ``evaluate(signals) -> condition``, once per distinct (identity, certificate, authentication,
  device, source IP, country) tuple, then cached until the next bundle, so it may read only those request
  fields;
* ``time``: ``evaluate(identity, epoch_seconds) -> condition``, for identities for which ``applies(identity)``
  is true. An attribute that also gives ``span(identity, epoch_seconds) -> (condition, start, end)``, with
  the epoch seconds between which the condition cannot change, lets the engine cache a decision for that long
  (and is called instead of ``evaluate``); without ``span`` such decisions are evaluated on every call.

Returning ``None`` means no condition holds, hence no contribution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pep.model import IdentityRecord, Signals


class Scope(StrEnum):
    """When an attribute is evaluated; see the module docstring."""

    IDENTITY = "identity"
    SESSION = "session"
    TIME = "time"


def _always(identity: IdentityRecord) -> bool:
    return True


@dataclass(frozen=True)
class RiskAttribute:
    """A risk signal: its name in risk rules, its conditions, and how to evaluate it."""

    name: str
    conditions: tuple[str, ...]
    scope: Scope
    evaluate: Callable[..., str | None]
    description: str
    applies: Callable[[IdentityRecord], bool] = _always
    span: Callable[[IdentityRecord, float], tuple[str | None, int, int]] | None = None
    # Session scope: what ``evaluate`` reads besides the resolved signals (device health, zone, countries), as
    # "request.<field>" / "identity.<field>". When every session attribute says so, the engine memoises session
    # risk on those values; one that leaves it None makes the engine evaluate every attribute per session.
    # Time scope, with ``span``: the "identity.<field>"s the answer depends on besides the time; the engine then
    # keeps one last answer (and its run) per distinct value, shared by the identities with that value.
    reads: tuple[str, ...] | None = None


ATTRIBUTES: dict[str, RiskAttribute] = {}


def register(attribute: RiskAttribute) -> RiskAttribute:
    """Add an attribute to the registry; bundles whose risk rules name unknown attributes are refused."""
    if attribute.name in ATTRIBUTES:
        raise ValueError(f"risk attribute {attribute.name!r} registered twice")
    ATTRIBUTES[attribute.name] = attribute
    return attribute


def _identity(identity: IdentityRecord) -> str:
    return "privileged" if identity.privileged else "standard"


def _authentication(signals: Signals) -> str | None:
    value = signals.request.authentication
    # An unrecognised assurance value is treated as the weakest one: the request cannot claim its way to 0.
    return value if value in ("hardware", "software") else "none"


def _device(signals: Signals) -> str:
    return signals.device_health


def _network(signals: Signals) -> str:
    return "unknown" if signals.zone is None else "known"


def _geography(signals: Signals) -> str:
    if signals.country is None:
        return "unknown"
    expected = signals.identity.expected_countries
    # An identity with no expected countries has no geographic expectation to violate.
    return "expected" if not expected or signals.country in expected else "anomalous"


def _trading_hours(identity: IdentityRecord, epoch: float) -> str:
    hours = identity.trading_hours
    assert hours is not None  # guarded by applies()
    return "inside" if hours.contains(epoch) else "outside"


def _trading_hours_span(identity: IdentityRecord, epoch: float) -> tuple[str, int, int]:
    hours = identity.trading_hours
    assert hours is not None  # guarded by applies()
    inside, start, end = hours.state(epoch)
    return ("inside" if inside else "outside"), start, end


def _has_trading_hours(identity: IdentityRecord) -> bool:
    return identity.trading_hours is not None


register(RiskAttribute("identity", ("standard", "privileged"), Scope.IDENTITY, _identity, "privileged identity"))
register(
    RiskAttribute(
        "authentication",
        ("hardware", "software", "none"),
        Scope.SESSION,
        _authentication,
        "authentication assurance: hardware token, software token (MFA), or password only",
        reads=("request.authentication",),
    )
)
register(
    RiskAttribute(
        "device",
        ("managed_compliant", "unmanaged", "non_compliant", "unknown"),
        Scope.SESSION,
        _device,
        "device health; a device the bundle does not list is unknown",
        reads=(),
    )
)
register(
    RiskAttribute(
        "network", ("known", "unknown"), Scope.SESSION, _network, "source IP inside a known network zone", reads=()
    )
)
register(
    RiskAttribute(
        "geography",
        ("expected", "anomalous", "unknown"),
        Scope.SESSION,
        _geography,
        "country (override, else the bundle's CIDR table) against the identity's expected countries",
        reads=("identity.expected_countries",),
    )
)
register(
    RiskAttribute(
        "trading_hours",
        ("inside", "outside"),
        Scope.TIME,
        _trading_hours,
        "request time against the identity's trading hours (identities without trading hours: no contribution)",
        applies=_has_trading_hours,
        span=_trading_hours_span,
        reads=("identity.trading_hours",),
    )
)

__all__ = ["ATTRIBUTES", "RiskAttribute", "Scope", "Signals", "register"]
