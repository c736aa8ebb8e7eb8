import shutil

import pytest

from certificates import actions
from tests.certificates.helpers import make_algo
from tests.conftest import CI


@pytest.fixture
def ca(db):
    return actions.init_ca(None)


@pytest.fixture
def algo(personas):
    """An algorithm identity sponsored by the trader, with two SenderCompIDs."""
    return make_algo(personas["trader"].user)


@pytest.fixture
def openssl():
    path = shutil.which("openssl")
    if path is None:
        if CI:
            pytest.fail("CI=true and openssl is missing: install Debian's openssl")
        pytest.skip("no openssl on this machine")
    return path
