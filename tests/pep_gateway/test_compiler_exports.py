"""The console's compiler emits what a PEP applies: TLS profile, revocations and certificate bindings."""

from certificates import actions
from pep.bundle import validate_payload
from policies.compiler import compile_payload
from tests.certificates.helpers import make_algo, make_csr


def test_compiled_bundle_carries_tls_profile_revocations_and_bindings(personas):
    actions.init_ca(None)
    algo = make_algo(personas["trader"].user)
    profile = actions.profile_by_name("fix-client")
    kept = actions.issue_from_csr(None, identity=algo, profile=profile, csr_pem=make_csr())
    gone = actions.issue_from_csr(None, identity=algo, profile=profile, csr_pem=make_csr())
    actions.revoke_certificate(None, gone, reason="keyCompromise")
    actions.update_tls_profile(None, min_version="TLSv1.3", tls12_ciphers=[], tls13_suites=["TLS_AES_256_GCM_SHA384"])
    body = compile_payload("uat", version=3, issued_at="2026-11-30T12:00:00Z", revocation_sequence=7)
    validate_payload(body)
    assert body["tls_profile"]["min_version"] == "TLSv1.3"
    assert body["tls_profile"]["ciphersuites_tls13"] == ["TLS_AES_256_GCM_SHA384"]
    assert body["revocations"]["sequence"] == 7
    assert body["revocations"]["certificates"] == [gone.sha256]
    bindings = {b["sha256"]: b for b in body["certificates"]}
    assert set(bindings) == {kept.sha256}
    assert bindings[kept.sha256]["identity"] == algo.user.username
    assert bindings[kept.sha256]["device"] is None
    # an algorithm has no MFA factor and no registered device holding the key
    assert bindings[kept.sha256]["authentication"] == "none"
