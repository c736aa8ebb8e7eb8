"""Every state change about identities, MFA devices, enrollment codes and API tokens.

Each public function is one verb: it runs in a transaction, writes its audit event in that transaction,
and is the only code path for that verb, whichever view, API endpoint, command or task calls it.
"""

from accounts.actions.core import (
    OTP_OK,
    OTP_THROTTLED,
    OTP_WRONG,
    VERIFIED_AT_SESSION_KEY,
    ActionError,
    BootstrapResult,
    bootstrap_admin,
    change_role,
    check_enrollment_code,
    complete_totp_enrollment,
    create_api_token,
    create_identity,
    issue_enrollment_code,
    purge_expired_credentials,
    record_password_failure,
    record_sign_out,
    revoke_api_token,
    start_totp_enrollment,
    verify_otp,
)
from accounts.actions.identities import (
    change_sponsor,
    create_non_person_identity,
    reactivate_identity,
    revoke_identity,
    suspend_identity,
)

__all__ = [
    "OTP_OK",
    "OTP_THROTTLED",
    "OTP_WRONG",
    "VERIFIED_AT_SESSION_KEY",
    "ActionError",
    "BootstrapResult",
    "bootstrap_admin",
    "change_role",
    "change_sponsor",
    "check_enrollment_code",
    "complete_totp_enrollment",
    "create_api_token",
    "create_identity",
    "create_non_person_identity",
    "issue_enrollment_code",
    "purge_expired_credentials",
    "reactivate_identity",
    "record_password_failure",
    "record_sign_out",
    "revoke_api_token",
    "revoke_identity",
    "start_totp_enrollment",
    "suspend_identity",
    "verify_otp",
]
