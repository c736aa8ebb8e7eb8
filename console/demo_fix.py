"""The FIX half of `make demo`: demo algorithms with certificates and devices, a published policy, two PEPs.

``load_demo_fix(fix_dir, ports)`` is what ``manage.py load_demo --fix-dir`` runs. Every state change goes through
the apps' actions (the same ones the pages, the API and ``manage.py register_pep`` call), so what the demo shows is
what the product does:

* algorithms (non-person identities, sponsored by the traders) with keys made here and certificates issued by the
  demo CA from CSRs under the ``fix-client`` profile; their registered devices, approved as managed and
  reporting posture (or not: the roaming laptop stays unmanaged), each holding one certificate's key;
* a superseded certificate of ``algo-quoter``, revoked, that a forgotten deployment still presents;
* in the draft of each environment: a loopback "office" zone and a loopback country table (the PEPs see
  127.0.0.0/8 only, see docs/demo.md) and access rules for the algorithms;
* a publication of prod and uat, requested by alice and approved by sam (maker-checker), whenever nothing is in
  force yet or this run changed what the bundle binds (a certificate issued or a device bound);
* two enforcement points, ``demo-prod`` and ``demo-uat``, registered with ``register_enforcement_point`` (what
  ``manage.py register_pep`` calls) from CSRs made here, and the console's client certificate for their control API.

It writes keys, certificates, tokens and ``manifest.json`` (what ``fixsim`` and ``scripts/demo.py`` read) into
``fix_dir``. A second run reuses what is there: same identities, keys, certificates and registrations.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.actions.core import ActionError
from accounts.models import (
    Compliance,
    DeviceKind,
    DeviceRegistration,
    DeviceStatus,
    Identity,
    IdentityKind,
    IdentityStatus,
)

VENUE_COMP_ID = "RFQVENUE"
VENUE_NAME = "demo-rfq-venue"
#: The loopback addresses the PEPs see, mapped like real ones: the office and a foreign country.
OFFICE_CIDR, OFFICE_SOURCE = "127.0.0.0/24", "127.0.0.1"
ABROAD_CIDR, ABROAD_SOURCE, ABROAD_COUNTRY = "127.66.0.0/16", "127.66.0.7", "RU"
OFFICE_ZONE, OFFICE_COUNTRY = "demo-loopback-office", "GB"
ALGO_MESSAGE_TYPES = ["A", "R", "S", "AI", "Z", "b"]  # logon, quote request/quote/status/cancel/ack: no orders


@dataclass(frozen=True)
class DemoDevice:
    serial: str
    kind: str
    platform: str
    hostname: str
    managed: bool


@dataclass(frozen=True)
class DemoAlgorithm:
    name: str
    environment: str
    comp_ids: tuple[str, ...]
    sponsor: str
    device: DemoDevice
    display_name: str


ALGORITHMS = (
    DemoAlgorithm(
        "algo-quoter",
        "prod",
        ("QUOTER1", "QUOTER2"),
        "tina",
        DemoDevice("DEMO-RACK-LDN-1", DeviceKind.ALGO_HOST, "RHEL 9", "algo-ldn-1.demo.internal", True),
        "Demo quoting algorithm",
    ),
    DemoAlgorithm(
        "algo-hedger",
        "prod",
        ("HEDGER1", "HEDGER2"),
        "theo",
        DemoDevice("DEMO-RACK-LDN-2", DeviceKind.ALGO_HOST, "RHEL 9", "algo-ldn-2.demo.internal", True),
        "Demo hedging algorithm",
    ),
    DemoAlgorithm(
        "algo-roamer",
        "prod",
        ("ROAMER1",),
        "tina",
        DemoDevice("DEMO-LAPTOP-7", DeviceKind.TRADER_WORKSTATION, "macOS 15", "tina-laptop.demo.internal", False),
        "Demo algorithm on a laptop",
    ),
    DemoAlgorithm(
        "algo-rfq-demo",
        "uat",
        ("DEMOALGO1",),
        "tina",
        DemoDevice("DEMO-RACK-UAT-1", DeviceKind.ALGO_HOST, "RHEL 9", "algo-uat-1.demo.internal", True),
        "Demo RFQ algorithm",
    ),
)

#: What the counterparty simulator runs: (session, algorithm, CompID, PEP environment, source address, behaviour,
#: expected outcome, what it shows). ``tls_refused`` presents the revoked certificate; the others the current one.
SESSIONS = (
    (
        "quoter",
        "algo-quoter",
        "QUOTER1",
        "prod",
        OFFICE_SOURCE,
        "quote",
        "allow",
        "managed rack, office address: allowed; a QuoteRequest every few seconds, the venue quotes back",
    ),
    (
        "hedger",
        "algo-hedger",
        "HEDGER1",
        "prod",
        OFFICE_SOURCE,
        "forbidden",
        "allow",
        "allowed, but every other message is a NewOrderSingle (35=D) its rule does not grant: rejected (35=j)",
    ),
    (
        "roamer",
        "algo-roamer",
        "ROAMER1",
        "prod",
        OFFICE_SOURCE,
        "quote",
        "step_up",
        "key on an unmanaged laptop (+25): step-up required, Logon refused; retried with backoff",
    ),
    (
        "hedger-abroad",
        "algo-hedger",
        "HEDGER2",
        "prod",
        ABROAD_SOURCE,
        "quote",
        "deny",
        f"from {ABROAD_SOURCE} ({ABROAD_COUNTRY} in the demo country table, no known zone: +40 +15): denied",
    ),
    (
        "stale-quoter",
        "algo-quoter",
        "QUOTER2",
        "prod",
        OFFICE_SOURCE,
        "quote",
        "tls_refused",
        "presents algo-quoter's revoked certificate: refused right after the TLS handshake",
    ),
    (
        "uat-quoter",
        "algo-rfq-demo",
        "DEMOALGO1",
        "uat",
        OFFICE_SOURCE,
        "quote",
        "allow",
        "the uat PEP: allowed, QuoteRequests like quoter",
    ),
)

ENVIRONMENTS = ("prod", "uat")


@dataclass(frozen=True)
class DemoPorts:
    """Where the demo's FIX pieces listen (loopback): the venue, then each PEP's FIX listener and control API."""

    venue: int
    peps: dict[str, tuple[int, int]]  # environment -> (fix, control)

    @classmethod
    def from_base(cls, base: int) -> DemoPorts:
        return cls(venue=base, peps={"prod": (base + 1, base + 2), "uat": (base + 3, base + 4)})


def _user(username: str):
    return get_user_model().objects.get(username=username)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)


def _key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The key at ``path``, made (P-256, mode 0600) when absent: keys never leave the demo's folder."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write_private(path, pem)
    return key


def _csr(key: ec.EllipticCurvePrivateKey, cn: str, *, dns=(), ips=()) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    )
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _spki_der(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _certificate_for_key(identity: Identity, key: ec.EllipticCurvePrivateKey, profile: str):
    """The identity's active certificate of ``profile`` for this key, if any."""
    from certificates.models import Certificate, CertificateStatus

    spki = _spki_der(key)
    for cert in Certificate.objects.filter(identity=identity, status=CertificateStatus.ACTIVE, profile__name=profile):
        if (
            x509.load_pem_x509_certificate(cert.pem.encode())
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            == spki
        ):
            return cert
    return None


class _Run:
    """One load: what it wrote and whether it changed what a bundle binds (then it publishes)."""

    def __init__(self, fix_dir: Path, ports: DemoPorts) -> None:
        self.dir = fix_dir
        self.ports = ports
        self.lines: list[str] = []
        self.changed: set[str] = set()

    # -- identities, devices, certificates ---------------------------------------------------------------------

    def algorithm(self, spec: DemoAlgorithm) -> Identity:
        from accounts.actions import create_non_person_identity

        identity = Identity.objects.filter(user__username=spec.name).first()
        if identity is None:
            identity = create_non_person_identity(
                None,
                name=spec.name,
                kind=IdentityKind.ALGORITHM,
                display_name=spec.display_name,
                sponsor=Identity.objects.get(user__username=spec.sponsor),
                environment=spec.environment,
                sender_comp_ids=list(spec.comp_ids),
                expected_countries=[OFFICE_COUNTRY],
            )
            self.changed.add(spec.environment)
            self.lines.append(f"Demo algorithm {spec.name} ({spec.environment}, {', '.join(spec.comp_ids)})")
        return identity

    def device(self, identity: Identity, spec: DemoDevice) -> DeviceRegistration:
        from accounts.actions.devices import approve_device, record_posture, register_device

        device = DeviceRegistration.objects.filter(serial=spec.serial).first()
        if device is None:
            device = register_device(
                None, owner=identity, kind=spec.kind, platform=spec.platform, serial=spec.serial, hostname=spec.hostname
            )
            if spec.managed:
                # The demo stands in for the MDM here: approval and a first compliant posture report.
                approve_device(None, device)
                record_posture(
                    device=device,
                    report={
                        "os_version": spec.platform,
                        "disk_encryption": True,
                        "screen_lock": True,
                        "edr_running": True,
                    },
                    source="demo",
                )
            self.changed.add(identity.environment)
        elif spec.managed and device.compliance != Compliance.COMPLIANT and device.status == DeviceStatus.ACTIVE:
            # Posture goes stale between demo runs; the demo's MDM reports again so the device stays healthy.
            record_posture(
                device=device,
                report={"os_version": spec.platform, "disk_encryption": True, "screen_lock": True, "edr_running": True},
                source="demo",
            )
        return device

    def client_certificate(self, identity: Identity, key_path: Path, *, bind_to: DeviceRegistration | None):
        """An active fix-client certificate for the key at ``key_path`` (issued when missing), written beside it."""
        from certificates.actions import bind_certificate_to_device, issue_from_csr, profile_by_name

        key = _key(key_path)
        cert = _certificate_for_key(identity, key, "fix-client")
        if cert is None and key_path.with_suffix(".pem").exists():
            # Its certificate was revoked (in the browser, say): a new one comes with a new key, as after a compromise.
            key_path.unlink()
            key = _key(key_path)
            self.lines.append(f"New key and certificate for {identity.username}: the previous one is no longer active")
        if cert is None:
            cert = issue_from_csr(
                None, identity=identity, profile=profile_by_name("fix-client"), csr_pem=_csr(key, identity.username)
            )
            self.changed.add(identity.environment)
        if (
            bind_to is not None
            and bind_to.status == DeviceStatus.ACTIVE
            and bind_to.certificate_fingerprint != cert.sha256
        ):
            bind_certificate_to_device(None, cert, bind_to)
            self.changed.add(identity.environment)
        key_path.with_suffix(".pem").write_text(cert.pem)
        return cert

    def revoked_certificate(self, identity: Identity, key_path: Path):
        """A certificate of ``identity`` that was superseded and revoked, still on disk for a stale deployment."""
        from certificates.actions import issue_from_csr, profile_by_name, revoke_certificate
        from certificates.models import Certificate, CertificateStatus

        cert_path = key_path.with_suffix(".pem")
        if key_path.exists() and cert_path.exists():
            pem = cert_path.read_text()
            if Certificate.objects.filter(pem=pem, status=CertificateStatus.REVOKED).exists():
                return
        key = _key(key_path)
        cert = _certificate_for_key(identity, key, "fix-client") or issue_from_csr(
            None, identity=identity, profile=profile_by_name("fix-client"), csr_pem=_csr(key, identity.username)
        )
        revoke_certificate(None, cert, reason="superseded", comment="demo: replaced, still deployed on an old host")
        cert_path.write_text(cert.pem)
        self.changed.add(identity.environment)
        self.lines.append(f"Revoked certificate {cert.serial} of {identity.username} (kept for the stale deployment)")

    def venue_certificate(self) -> None:
        from accounts.actions import create_non_person_identity
        from certificates.actions import issue_from_csr, profile_by_name

        identity = Identity.objects.filter(user__username=VENUE_NAME).first()
        if identity is None:
            identity = create_non_person_identity(
                None,
                name=VENUE_NAME,
                kind=IdentityKind.FIX_GATEWAY,
                display_name="Demo RFQ venue",
                sponsor=Identity.objects.get(user__username="alice"),
                environment="prod",
                sender_comp_ids=[VENUE_COMP_ID],
            )
        key_path = self.dir / "venue.key"
        key = _key(key_path)
        cert = _certificate_for_key(identity, key, "fix-server") or issue_from_csr(
            None,
            identity=identity,
            profile=profile_by_name("fix-server"),
            csr_pem=_csr(key, "localhost", dns=["localhost"]),
        )
        key_path.with_suffix(".pem").write_text(cert.pem)

    # -- policy --------------------------------------------------------------------------------------------------

    def policy(self, environment: str) -> None:
        """The loopback office zone and country table, and the algorithms' access rules, once each (by name)."""
        from policies import actions
        from policies.models import AccessRule, CountryRange, NetworkZone, Segment

        segment = Segment.objects.filter(environment=environment, name="rfq-venue").first()
        if segment is None:
            raise RuntimeError(f"the demo draft of {environment} has no rfq-venue segment")
        if not NetworkZone.objects.filter(environment=environment, name=OFFICE_ZONE).exists():
            actions.create_network_zone(None, environment=environment, name=OFFICE_ZONE, cidrs=[OFFICE_CIDR])
            self.changed.add(environment)
        for cidr, country in ((OFFICE_CIDR, OFFICE_COUNTRY), (ABROAD_CIDR, ABROAD_COUNTRY)):
            if not CountryRange.objects.filter(environment=environment, cidr=cidr).exists():
                actions.create_country_range(None, environment=environment, cidr=cidr, country=country)
                self.changed.add(environment)
        for spec in ALGORITHMS:
            if spec.environment != environment:
                continue
            name = f"{spec.name}-rfq"
            identity = Identity.objects.get(user__username=spec.name)
            if (
                identity.status == IdentityStatus.REVOKED
                or AccessRule.objects.filter(
                    environment=environment, subject_identity=identity, target_segment=segment
                ).exists()
            ):
                continue
            actions.create_access_rule(
                None,
                environment=environment,
                name=name,
                subject_kind="identity",
                subject_identity=identity,
                target_segment=segment,
                message_types=ALGO_MESSAGE_TYPES,
            )
            self.changed.add(environment)

    def publish(self, environment: str) -> int:
        """The version in force, after publishing the draft (alice requests, sam approves) when needed."""
        from policies.actions import approve_publication, request_publication
        from policies.distribution.actions import in_force

        current = in_force(environment)
        if current is not None and environment not in self.changed:
            return current.version
        try:
            with transaction.atomic():
                version = request_publication(_user("alice"), environment=environment)
                approve_publication(_user("sam"), version)
        except ActionError as exc:
            # E.g. a draft edited in the demo that no longer validates: the version in force stays.
            self.lines.append(f"Could not publish {environment} for the FIX demo: {exc}")
            return current.version if current is not None else 0
        self.lines.append(f"Published {environment} v{version.version} (requested by alice, approved by sam)")
        return version.version

    # -- enforcement points ---------------------------------------------------------------------------------------

    def enforcement_point(self, environment: str) -> dict[str, Any]:
        from policies.distribution.actions import (
            register_enforcement_point,
            retire_enforcement_point,
            update_enforcement_point,
        )
        from policies.distribution.models import EnforcementPoint, PointStatus

        fix_port, control_port = self.ports.peps[environment]
        control_url = f"https://127.0.0.1:{control_port}"
        folder = self.dir / "peps" / environment
        folder.mkdir(parents=True, exist_ok=True)
        cert_path, key_path, token_path = folder / "pep.pem", folder / "pep.key", folder / "token"
        have_files = cert_path.exists() and key_path.exists() and token_path.exists()
        points = EnforcementPoint.objects.filter(environment=environment, name__startswith=f"demo-{environment}")
        point = points.exclude(status=PointStatus.RETIRED).order_by("-pk").first()
        if point is not None and not (have_files and point.certificate.pem == cert_path.read_text()):
            retire_enforcement_point(None, point, reason="demo: its key and token files are gone")
            point = None
        if point is None:
            name = f"demo-{environment}" if not points.exists() else f"demo-{environment}-{points.count() + 1}"
            key = _key(key_path)
            point, cert, token = register_enforcement_point(
                None,
                name=name,
                environment=environment,
                control_url=control_url,
                csr_pem=_csr(key, name, dns=["localhost"], ips=["127.0.0.1"]),
                segments=["rfq-venue"],
                sponsor=Identity.objects.get(user__username="sam"),
            )
            cert_path.write_text(cert.pem)
            _write_private(token_path, (token + "\n").encode())
            # A newly registered point has no history: a state folder left by an earlier database (another
            # signing key, higher versions and revocation numbers) would make it refuse the new ones.
            shutil.rmtree(folder / "state", ignore_errors=True)
            self.lines.append(f"Enforcement point {name} registered ({environment}, control {control_url})")
        elif point.control_url != control_url or point.status != PointStatus.ACTIVE:
            update_enforcement_point(
                None, point, control_url=control_url, segments=point.segments, status=PointStatus.ACTIVE
            )
        return {
            "name": point.name,
            "environment": environment,
            "cert": str(cert_path),
            "key": str(key_path),
            "token": str(token_path),
            "fix_port": fix_port,
            "control_port": control_port,
            "target": "rfq-fix" if environment == "prod" else "rfq-fix-uat",
            "state_dir": str(folder / "state"),
        }


def _write_trust(fix_dir: Path) -> tuple[str, list[str]]:
    """The CA chain and the policy signing key ring (every key a live bundle may be signed with)."""
    from certificates.actions import chain_pem
    from policies.models import SigningKey

    chain = fix_dir / "ca-chain.pem"
    chain.write_text(chain_pem())
    ring = []
    for key in SigningKey.objects.order_by("-active", "-pk")[:2]:
        path = fix_dir / f"policy-signing-{key.kid}.pub.pem"
        path.write_text(key.public_key_pem)
        ring.append(str(path))
    return str(chain), ring


@transaction.atomic
def load_demo_fix(fix_dir: Path, ports: DemoPorts) -> str:
    """Everything the demo's FIX traffic needs, then ``fix_dir/manifest.json``; returns what it did, for people."""
    from certificates.console import active_credential, issue_console_credential

    fix_dir = Path(fix_dir).resolve()
    fix_dir.mkdir(parents=True, exist_ok=True)
    run = _Run(fix_dir, ports)
    if active_credential() is None:
        issue_console_credential(None)
        run.lines.append("Console client certificate issued (profile console) for the PEPs' control API")
    sessions = []
    for spec in ALGORITHMS:
        identity = run.algorithm(spec)
        device = run.device(identity, spec.device)
        if identity.status != IdentityStatus.ACTIVE:
            run.lines.append(f"{spec.name} is {identity.status}: its sessions are left out (rm -rf var/demo to reset)")
            continue
        run.client_certificate(identity, fix_dir / "algos" / f"{spec.name}.key", bind_to=device)
    run.revoked_certificate(
        Identity.objects.get(user__username="algo-quoter"), fix_dir / "algos" / "algo-quoter-old.key"
    )
    run.venue_certificate()
    for environment in ENVIRONMENTS:
        run.policy(environment)
    published = {environment: run.publish(environment) for environment in ENVIRONMENTS}
    peps = [run.enforcement_point(environment) for environment in ENVIRONMENTS]
    chain, ring = _write_trust(fix_dir)
    active = {spec.name for spec in ALGORITHMS if Identity.objects.get(user__username=spec.name).status == "active"}
    for name, algorithm, comp_id, environment, source, behaviour, expect, story in SESSIONS:
        if algorithm not in active:
            continue
        stem = f"{algorithm}-old" if expect == "tls_refused" else algorithm
        sessions.append(
            {
                "name": name,
                "identity": algorithm,
                "comp_id": comp_id,
                "environment": environment,
                "source_host": source,
                "behaviour": behaviour,
                "expect": expect,
                "story": story,
                "cert": str(fix_dir / "algos" / f"{stem}.pem"),
                "key": str(fix_dir / "algos" / f"{stem}.key"),
            }
        )
    manifest = {
        "format": "ztconsole-demo-fix/1",
        "chain": chain,
        "public_keys": ring,
        "venue": {
            "comp_id": VENUE_COMP_ID,
            "port": ports.venue,
            "cert": str(fix_dir / "venue.pem"),
            "key": str(fix_dir / "venue.key"),
        },
        "peps": peps,
        "published": published,
        "sessions": sessions,
    }
    (fix_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return "\n".join(run.lines)
