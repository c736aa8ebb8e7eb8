import pytest

from certificates.actions import init_ca
from certificates.console import issue_console_credential
from policies import actions as policy_actions


@pytest.fixture
def pki(db):
    """The internal CA and the console's client certificate, as `manage.py init_ca` leaves them."""
    ca = init_ca(None)
    return {"ca": ca, "console": issue_console_credential(None)}


@pytest.fixture
def signing_key(db):
    return policy_actions.init_signing_key(None)


@pytest.fixture
def published(personas, pki, signing_key):
    """A prod policy approved by the security officer (requested by the administrator): version 1 in force."""
    from tests.policies.helpers import build_rfq_policy

    build_rfq_policy(personas)

    def publish(environment: str = "prod"):
        pv = policy_actions.request_publication(personas["admin"].user, environment=environment)
        return policy_actions.approve_publication(personas["security"].user, pv)

    return publish
