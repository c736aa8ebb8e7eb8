import pytest

from policies import actions


@pytest.fixture
def signing_key(db):
    return actions.init_signing_key(None)


@pytest.fixture
def rfq_policy(personas, signing_key):
    """prod: the seed risk table, an rfq-gateway segment, the trader granted QuoteRequest/Quote, a zone."""
    from tests.policies.helpers import build_rfq_policy

    return build_rfq_policy(personas)
