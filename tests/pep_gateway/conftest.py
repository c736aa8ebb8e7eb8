import pytest

from tests.pep_gateway.harness import PepProcess, Venue, issue_pki, payload, signed, write_config


@pytest.fixture
def pki(personas, tmp_path):
    return issue_pki(tmp_path / "pki", personas["trader"].user)


@pytest.fixture
def venue(pki):
    venue = Venue(pki)
    yield venue
    venue.close()


@pytest.fixture
def start_pep(pki, venue):
    """Start a PEP (config overrides as keyword arguments); every PEP started is stopped after the test."""
    started = []

    def start(**overrides):
        pep = PepProcess(write_config(pki, venue.port, **overrides), pki)
        started.append(pep)
        return pep

    yield start
    for pep in started:
        pep.stop()


@pytest.fixture
def pep(start_pep, pki):
    """A PEP with version 1 of the test policy pushed by the console."""
    pep = start_pep()
    code, body = pep.push(signed(pki, payload(pki, 1)))
    assert (code, body["status"]) == (200, "applied"), body
    return pep
