"""Several enforcement points in one PEP process (`python -m pep serve --config a.toml --config b.toml ...`).

Each point is registered on its own (name, certificate pinned by the console, control port) and keeps its own state
(version acknowledged, revocations applied, state directory); the process verifies and compiles a bundle once and
shares it between the points that receive the same bytes. Real processes, real mutual TLS, the console's own
delivery code.
"""

import gzip
import subprocess
import sys

import pytest

from accounts.actions import suspend_identity
from policies import actions as policy_actions
from policies.distribution import actions
from policies.distribution.models import Delivery, DeliveryKind, DeliveryState, EnforcementPoint
from tests.distribution.peps import ROOT, PepHost

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


def _deliver(creds, kind, number) -> str:
    delivery = Delivery.objects.get(point=creds.point, kind=kind, number=number)
    return actions.deliver(delivery.pk)


def test_one_process_hosts_several_points_sharing_bundles_and_keeping_their_own_state(
    personas, published, pep_fleet, quiet_queue, tmp_path
):
    creds = [pep_fleet.register(f"pep-venue-{n}") for n in ("a", "b", "c")]
    peps = [pep_fleet.process(c) for c in creds]
    host = PepHost(peps, tmp_path).start()
    try:
        assert sorted(host.ready) == ["pep-venue-a", "pep-venue-b", "pep-venue-c"]
        assert len({ready["control"] for ready in host.ready.values()}) == 3

        # Each control port presents its own certificate (the console pins each) and answers for its own point.
        first = published()
        for c in creds:
            assert _deliver(c, DeliveryKind.BUNDLE, first.version) == "applied"
        statuses = [pep.status() for pep in peps]
        assert [s["pep"] for s in statuses] == ["pep-venue-a", "pep-venue-b", "pep-venue-c"]
        assert {(s["version"], s["sha256"]) for s in statuses} == {(first.version, first.sha256)}
        assert len({s["process"]["pid"] for s in statuses}) == 1
        # Verified and compiled once; the two other points checked the same bytes' result and applied it.
        assert statuses[0]["process"]["bundles_compiled"] == 1
        assert statuses[0]["process"]["bundles_shared"] == 2
        assert all(s["counters"]["bundles_applied"] == 1 for s in statuses)
        for c in creds:
            point = EnforcementPoint.objects.get(pk=c.point.pk)
            assert (point.acknowledged_version, point.acknowledged_sha256) == (first.version, first.sha256)
        # Stored once: each point's last good bundle is a link to the same bytes, not a copy of its own.
        stored = [(pep.dir / "state" / "bundle.json").stat() for pep in peps]
        assert len({(s.st_dev, s.st_ino) for s in stored}) == 1 and stored[0].st_nlink >= 3

        # Their own versions: a higher version delivered to one point only.
        policy_actions.create_network_zone(None, environment="prod", name="hosted", cidrs=["10.98.0.0/16"])
        second = published()
        assert _deliver(creds[1], DeliveryKind.BUNDLE, second.version) == "applied"
        # Their own revocations: a delta applied by one point only.
        suspend_identity(None, personas["trader"].user.identity, reason="investigation")
        assert _deliver(creds[0], DeliveryKind.REVOCATION, 1) == "applied"
        expected = [(first.version, 1), (second.version, 0), (first.version, 0)]
        assert [(s["version"], s["revocation_sequence"]) for s in (p.status() for p in peps)] == expected
        assert peps[1].status()["process"]["bundles_compiled"] == 2

        # A point refuses a lower version on its own, even though the process holds that bundle compiled.
        Delivery.objects.filter(point=creds[1].point, number=first.version).update(
            state=DeliveryState.PENDING, claimed_until=None
        )
        assert _deliver(creds[1], DeliveryKind.BUNDLE, first.version) == "superseded"
        assert peps[1].status()["version"] == second.version

        # A restart restores each point from its own state directory.
        host.stop()
        host.start()
        assert [(s["version"], s["revocation_sequence"]) for s in (p.status() for p in peps)] == expected
        process = peps[0].status()["process"]
        assert (process["bundles_compiled"], process["bundles_shared"]) == (2, 1)
    finally:
        host.stop()


def test_the_control_api_takes_gzip_bodies_within_the_size_bound(personas, published, pep_fleet, quiet_queue):
    creds = pep_fleet.register("pep-gzip")
    pep_fleet.start(creds)
    pv = published()
    client = actions.control_client()
    url, pin = creds.point.control_url, creds.certificate.sha256

    def put(body: bytes, encoding: str | None):
        return client.call(url, "PUT", "/bundle", body, pinned=pin, content_encoding=encoding)

    answer = put(b"not gzip at all", "gzip")
    assert (answer.http_status, answer.body["reason"]) == (422, "malformed")
    assert "gzip" in answer.body["detail"]
    truncated = gzip.compress(pv.bundle.encode())[:-20]
    assert put(truncated, "gzip").http_status == 422
    answer = put(pv.bundle.encode(), "br")
    assert answer.http_status == 415
    answer = put(gzip.compress(pv.bundle.encode()), "gzip")
    assert (answer.http_status, answer.body["status"], answer.body["sha256"]) == (200, "applied", pv.sha256)


def test_inflating_stops_at_the_bound():
    from pep.bundle import MalformedBundleError
    from pep.gateway.state import decode_body

    bomb = gzip.compress(b"0" * 1_000_000)
    assert len(bomb) < 2000
    with pytest.raises(MalformedBundleError, match="inflates past 65536 bytes"):
        decode_body(bomb, "gzip", limit=65536)
    assert decode_body(bomb, "gzip", limit=1_000_000) == b"0" * 1_000_000
    with pytest.raises(MalformedBundleError, match="Content-Encoding"):
        decode_body(bomb, "deflate")


def test_points_of_one_process_may_not_share_a_port_a_name_or_a_state_directory(personas, pki, signing_key, pep_fleet):
    creds = [pep_fleet.register(f"pep-clash-{n}") for n in ("a", "b")]
    port = int(creds[0].point.control_url.rsplit(":", 1)[1])
    peps = [pep_fleet.process(c, control_port=port) for c in creds]
    command = [sys.executable, "-m", "pep", "serve", "--check"]
    for pep in peps:
        command += ["--config", str(pep.config)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"pep-clash-b: control.listen {port} is also pep-clash-a: control.listen's" in result.stderr
    ok = subprocess.run(command[:-2], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "ok:" in ok.stdout
