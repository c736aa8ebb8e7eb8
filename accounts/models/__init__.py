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

__all__ = [
    "AccountsAccess",
    "ApiToken",
    "ApiTokenScope",
    "Desk",
    "EmploymentStatus",
    "EnrollmentCode",
    "Environment",
    "Identity",
    "IdentityKind",
    "IdentityStatus",
    "digest",
    "new_enrollment_code",
    "normalize_enrollment_code",
]
