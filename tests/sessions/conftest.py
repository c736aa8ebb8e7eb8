import pytest

from tests.distribution.conftest import pki  # noqa: F401 - the CA and the console's client certificate


@pytest.fixture
def point(pki, personas):  # noqa: F811
    """A registered prod enforcement point named pep-ldn (with its bearer token in ``.token``)."""
    from tests.distribution.helpers import register

    return register("pep-ldn")


@pytest.fixture
def other_point(pki, personas):  # noqa: F811
    from tests.distribution.helpers import register

    return register("pep-nyc")
