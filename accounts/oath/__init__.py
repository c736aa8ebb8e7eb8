"""OATH one-time passwords (HOTP, TOTP) and hardware-token seed import.

Pure Python on purpose: no Django here, so the same code serves the console, management commands,
the reference PEP and tests without a configured project.
"""

from accounts.oath.otp import (
    OathParams,
    hotp,
    sync_hotp,
    sync_totp,
    totp,
    verify_hotp,
    verify_totp,
)
from accounts.oath.seeds import (
    ImportResult,
    Rejected,
    SeedFileError,
    TokenSeed,
    parse_oath_csv,
    parse_pskc,
)

__all__ = [
    "ImportResult",
    "OathParams",
    "Rejected",
    "SeedFileError",
    "TokenSeed",
    "hotp",
    "parse_oath_csv",
    "parse_pskc",
    "sync_hotp",
    "sync_totp",
    "totp",
    "verify_hotp",
    "verify_totp",
]
