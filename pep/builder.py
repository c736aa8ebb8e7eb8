"""Build a bundle payload from plain Python data, deterministically.

The console's compiler (policies/compiler.py) turns a database snapshot into the arguments of
:func:`build_payload`; tests and the benchmark call it directly. Every list is sorted by a stable key and every
optional field is filled, so the same policy given in any order yields identical canonical bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pep.canonical import canonical_bytes

FORMAT = "ztc-policy/1"

#: The shipped risk table (docs/bundle.md, CONTEXT.md "The risk model"): exactly the seed rules.
SEED_RISK_RULES: tuple[dict[str, Any], ...] = (
    {"id": "seed-identity-standard", "attribute": "identity", "condition": "standard", "score": 0},
    {"id": "seed-identity-privileged", "attribute": "identity", "condition": "privileged", "score": 10},
    {"id": "seed-auth-none", "attribute": "authentication", "condition": "none", "score": 30},
    {"id": "seed-auth-software", "attribute": "authentication", "condition": "software", "score": 5},
    {"id": "seed-auth-hardware", "attribute": "authentication", "condition": "hardware", "score": 0},
    {"id": "seed-device-managed", "attribute": "device", "condition": "managed_compliant", "score": 0},
    {"id": "seed-device-unmanaged", "attribute": "device", "condition": "unmanaged", "score": 25},
    {"id": "seed-network-known", "attribute": "network", "condition": "known", "score": 0},
    {"id": "seed-network-unknown", "attribute": "network", "condition": "unknown", "score": 15},
    {"id": "seed-geo-expected", "attribute": "geography", "condition": "expected", "score": 0},
    {"id": "seed-geo-anomalous", "attribute": "geography", "condition": "anomalous", "score": 40},
)

#: allow below ``step_up``, step-up from ``step_up`` up to ``deny`` - 1, deny from ``deny`` on.
DEFAULT_BANDS: dict[str, int] = {"step_up": 20, "deny": 40}


def _window(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {
        "timezone": str(value.get("timezone", "UTC")),
        "days": sorted({int(d) for d in value.get("days", range(7))}),
        "start": str(value["start"]),
        "end": str(value["end"]),
    }


def _identity(item: Mapping[str, Any]) -> dict[str, Any]:
    out = {
        "id": str(item["id"]),
        "status": str(item.get("status", "active")),
        "privileged": bool(item.get("privileged", False)),
        "expected_countries": sorted({str(c).upper() for c in item.get("expected_countries", ())}),
        "trading_hours": _window(item.get("trading_hours")),
        "desk": None if item.get("desk") is None else str(item["desk"]),
        "groups": sorted({str(g) for g in item.get("groups", ())}),
        "roles": sorted({str(r) for r in item.get("roles", ())}),
        "certificates": sorted({str(f).lower() for f in item.get("certificates", ())}),
    }
    if item.get("sponsor"):  # only non-person identities have one; absent keeps a person's record unchanged
        out["sponsor"] = str(item["sponsor"])
    return out


def _segment(item: Mapping[str, Any]) -> dict[str, Any]:
    resources = [
        {key: str(res[key]) for key in ("id", "address", "venue") if res.get(key) is not None}
        for res in item.get("resources", ())
    ]
    return {"id": str(item["id"]), "resources": sorted(resources, key=lambda r: r["id"])}


def _access_rule(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(item["id"]),
        "subject": {"kind": str(item["subject"]["kind"]), "id": str(item["subject"]["id"])},
        "target": {"kind": str(item["target"]["kind"]), "id": str(item["target"]["id"])},
        "message_types": sorted({str(m) for m in item.get("message_types", ("*",))}),
        "window": _window(item.get("window")),
        "expires_at": None if item.get("expires_at") is None else str(item["expires_at"]),
    }


def _risk_rule(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(item["id"]),
        "attribute": str(item["attribute"]),
        "condition": str(item["condition"]),
        "score": int(item["score"]),
        "enabled": bool(item.get("enabled", True)),
    }


def _by_id(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda i: i["id"])


def build_payload(
    *,
    environment: str,
    version: int,
    issued_at: str,
    identities: Iterable[Mapping[str, Any]] = (),
    devices: Mapping[str, str] | Iterable[Mapping[str, Any]] = (),
    segments: Iterable[Mapping[str, Any]] = (),
    access_rules: Iterable[Mapping[str, Any]] = (),
    risk_rules: Iterable[Mapping[str, Any]] = SEED_RISK_RULES,
    bands: Mapping[str, int] = DEFAULT_BANDS,
    network_zones: Mapping[str, Iterable[str]] | Iterable[Mapping[str, Any]] = (),
    ip_countries: Mapping[str, str] | Iterable[Mapping[str, Any]] = (),
    tls_profile: Mapping[str, Any] | None = None,
    revocations: Mapping[str, Any] | None = None,
    certificates: Iterable[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Return the bundle payload (the signed part) as a normalized dict; see docs/bundle.md for every field.

    The result is not validated here (the bench builds and signs large policies against a time budget): call
    :func:`pep.bundle.validate_payload` before signing anything a PEP will load, as ``python -m pep sign`` does.

    ``devices`` may be ``{device_id: health}``, ``network_zones`` ``{zone_id: [cidr, ...]}`` and
    ``ip_countries`` ``{cidr: country}``; the long forms (lists of objects) are accepted too. ``issued_at`` is
    passed in rather than read from the clock so that compilation stays deterministic.

    ``tls_profile``, ``revocations`` and ``certificates`` (bindings) are what an enforcement point's gateway
    applies (docs/pep.md); they are emitted only when given, so payloads built without them keep their bytes.
    """
    if isinstance(devices, Mapping):
        devices = [{"id": k, "health": v} for k, v in devices.items()]
    if isinstance(network_zones, Mapping):
        network_zones = [{"id": k, "cidrs": v} for k, v in network_zones.items()]
    if isinstance(ip_countries, Mapping):
        ip_countries = [{"cidr": k, "country": v} for k, v in ip_countries.items()]
    payload = {
        "format": FORMAT,
        "environment": str(environment),
        "version": int(version),
        "issued_at": str(issued_at),
        "bands": {"step_up": int(bands["step_up"]), "deny": int(bands["deny"])},
        "identities": _by_id(_identity(i) for i in identities),
        "devices": _by_id({"id": str(d["id"]), "health": str(d["health"])} for d in devices),
        "segments": _by_id(_segment(s) for s in segments),
        "access_rules": _by_id(_access_rule(r) for r in access_rules),
        "risk_rules": _by_id(_risk_rule(r) for r in risk_rules),
        "network_zones": _by_id(
            {"id": str(z["id"]), "cidrs": sorted({str(c) for c in z["cidrs"]})} for z in network_zones
        ),
        "ip_countries": sorted(
            ({"cidr": str(e["cidr"]), "country": str(e["country"]).upper()} for e in ip_countries),
            key=lambda e: e["cidr"],
        ),
    }
    if tls_profile is not None:
        payload["tls_profile"] = {
            "min_version": str(tls_profile["min_version"]),
            "ciphers_tls12": [str(c) for c in tls_profile.get("ciphers_tls12", ())],
            "ciphersuites_tls13": [str(c) for c in tls_profile.get("ciphersuites_tls13", ())],
            "groups": [str(g) for g in tls_profile.get("groups", ())],
        }
    if revocations is not None:
        payload["revocations"] = {
            "sequence": int(revocations.get("sequence", 0)),
            "certificates": sorted({str(c).lower() for c in revocations.get("certificates", ())}),
            "identities": sorted({str(i) for i in revocations.get("identities", ())}),
            "devices": sorted({str(d) for d in revocations.get("devices", ())}),
        }
    if certificates is not None:
        payload["certificates"] = sorted(
            (
                {
                    "sha256": str(c["sha256"]).lower(),
                    "identity": str(c["identity"]),
                    "device": None if c.get("device") is None else str(c["device"]),
                    "authentication": str(c.get("authentication", "none")),
                }
                for c in certificates
            ),
            key=lambda c: c["sha256"],
        )
    return payload


def payload_bytes(payload: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a payload: what is signed and what the SHA-256 acknowledgement covers."""
    return canonical_bytes(payload)
