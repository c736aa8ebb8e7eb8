"""accounts models, one module per concern; import from here."""

from accounts.models.credentials import (
    AccountsAccess,
    ApiToken,
    ApiTokenScope,
    EnrollmentCode,
    digest,
    new_enrollment_code,
    normalize_enrollment_code,
)
from accounts.models.identities import (
    Desk,
    EmploymentStatus,
    Environment,
    Identity,
    IdentityKind,
    IdentityStatus,
)
from accounts.models.mfa import (
    ASSURANCE_RANK,
    Assurance,
    HardwareToken,
    HashAlgorithm,
    OathDevice,
    OathKind,
    RoleAssurance,
    StaticCode,
    StaticCodeDevice,
    TokenState,
    device_assurance,
)

__all__ = [
    "ASSURANCE_RANK",
    "AccountsAccess",
    "ApiToken",
    "ApiTokenScope",
    "Assurance",
    "Desk",
    "EmploymentStatus",
    "EnrollmentCode",
    "Environment",
    "HardwareToken",
    "HashAlgorithm",
    "Identity",
    "IdentityKind",
    "IdentityStatus",
    "OathDevice",
    "OathKind",
    "RoleAssurance",
    "StaticCode",
    "StaticCodeDevice",
    "TokenState",
    "device_assurance",
    "digest",
    "new_enrollment_code",
    "normalize_enrollment_code",
]
