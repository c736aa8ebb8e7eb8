"""The four shipped certificate profiles (like Vault roles); created on first use, editable in the admin."""

from __future__ import annotations

DEFAULT_PROFILES: dict[str, dict] = {
    "fix-client": {
        "description": "FIX client (algorithm, gateway) authenticating to an enforcement point",
        "extended_key_usage": ["clientAuth"],
        "max_lifetime_days": 90,
        "allowed_san_kinds": ["uri"],
        "include_comp_ids": True,
    },
    "fix-server": {
        "description": "FIX acceptor (trading system) behind an enforcement point",
        "extended_key_usage": ["serverAuth"],
        "max_lifetime_days": 397,
        "allowed_san_kinds": ["uri", "dns", "ip"],
        "include_comp_ids": False,
    },
    "pep": {
        "description": "Policy enforcement point: serves FIX clients and calls the console",
        "extended_key_usage": ["serverAuth", "clientAuth"],
        "max_lifetime_days": 397,
        "allowed_san_kinds": ["uri", "dns", "ip"],
        "include_comp_ids": False,
    },
    "console": {
        "description": "The console's own HTTPS endpoint, and its client certificate for the PEP control API",
        "extended_key_usage": ["serverAuth", "clientAuth"],
        "max_lifetime_days": 397,
        "allowed_san_kinds": ["uri", "dns"],
        "include_comp_ids": False,
    },
}
DEFAULT_KEYS = {
    "allow_rsa": True,
    "rsa_min_bits": 2048,
    "ec_curves": ["secp256r1", "secp384r1"],
    "allow_ed25519": True,
}


def ensure_default_profiles() -> None:
    """Create any missing shipped profile (existing ones, possibly edited, are left alone)."""
    from certificates.models import CertificateProfile

    existing = set(CertificateProfile.objects.values_list("name", flat=True))
    CertificateProfile.objects.bulk_create(
        [
            CertificateProfile(name=name, **DEFAULT_KEYS, **values)
            for name, values in DEFAULT_PROFILES.items()
            if name not in existing
        ],
        ignore_conflicts=True,
    )
