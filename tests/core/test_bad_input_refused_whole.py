"""Bad input that used to be accepted or half-written: refused whole now, naming what is wrong."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts import actions as account_actions
from accounts.actions import mfa as mfa_actions
from accounts.models import YubikeyRecord
from certificates import actions as cert_actions
from certificates.models import Certificate
from policies import actions as policy_actions
from policies.models import PolicyVersion
from tests.accounts.test_yubikey import SimulatedYubikey
from tests.certificates.helpers import make_algo, make_csr
from tests.policies.conftest import rfq_policy, signing_key  # noqa: F401 - fixtures
from ztconsole.core.countries import is_country_code


def test_a_yubikey_log_over_5_mb_is_refused_whole(personas):
    modhex_digits = str.maketrans("0123456789", "cbdefghijk")
    template = SimulatedYubikey().export_line()
    lines, size, n = [], 0, 0
    while size <= mfa_actions.MAX_SEED_FILE_BYTES:  # valid, distinct keys: only the size is wrong
        line = template.replace("vvccccfiluij", "vv" + f"{n:010d}".translate(modhex_digits)) + "\n"
        lines.append(line)
        size += len(line)
        n += 1
    with pytest.raises(account_actions.ActionError, match="larger than 5 MB; nothing imported"):
        mfa_actions.import_token_seeds(personas["admin"].user, data="".join(lines).encode(), filename="yubikeys.csv")
    assert not YubikeyRecord.objects.exists()


@pytest.fixture
def issued(personas):
    cert_actions.init_ca(None)
    algo = make_algo(personas["trader"].user)
    profile = cert_actions.profile_by_name("fix-client")
    return cert_actions.issue_from_csr(personas["admin"].user, identity=algo, profile=profile, csr_pem=make_csr())


def test_renewal_refuses_a_csr_upload_over_20_kb_before_reading_it(issued, personas, verified_client):
    upload = SimpleUploadedFile("big.csr", b"A" * 20001)
    response = verified_client(personas["security"]).post(
        reverse("certificates:renew", kwargs={"pk": issued.pk}), {"csr_file": upload}
    )
    assert response.status_code == 400 and b"too large" in response.content
    assert Certificate.objects.count() == 1


def test_two_csrs_pasted_together_are_refused_everywhere(issued, personas, verified_client):
    two = make_csr() + make_csr()
    client = verified_client(personas["security"])
    api_issue = client.post(
        "/api/v1/certificates/",
        {"identity": issued.identity_id, "profile": "fix-client", "csr": two},
        content_type="application/json",
    )
    assert api_issue.status_code == 400 and "exactly one CSR" in api_issue.json()["detail"]
    page_issue = client.post(
        reverse("certificates:issue"), {"identity": str(issued.identity_id), "profile": "fix-client", "csr": two}
    )
    assert page_issue.status_code == 400 and b"exactly one CSR" in page_issue.content
    api_renew = client.post(f"/api/v1/certificates/{issued.pk}/renew/", {"csr": two}, content_type="application/json")
    assert api_renew.status_code == 400 and "exactly one CSR" in api_renew.json()["detail"]
    assert Certificate.objects.count() == 1


@pytest.mark.usefixtures("rfq_policy")
def test_an_empty_publication_request_publishes_nothing(personas, verified_client):
    response = verified_client(personas["admin"]).post(reverse("policies:publish"), {})
    assert response.status_code == 302 and not PolicyVersion.objects.exists()


def test_country_codes_must_be_assigned_iso_3166_codes(personas):
    assert is_country_code("GB") and not is_country_code("IF") and not is_country_code("gb")
    with pytest.raises(account_actions.ActionError, match="ISO 3166-1"):
        account_actions.create_identity(
            personas["admin"].user,
            username="ivan",
            email="ivan@example.test",
            full_name="Ivan",
            role="Trader",
            password="a-long-enough-passphrase-9",
            expected_countries=["GB", "IF"],
        )
    with pytest.raises(policy_actions.PolicyError, match="ISO 3166"):
        policy_actions.create_country_range(None, environment="prod", cidr="192.0.2.0/24", country="IF")
