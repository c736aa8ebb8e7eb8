"""manage.py issue_cert --csr FILE --identity ID --profile fix-client --out FILE [--days N]"""

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Identity
from certificates import actions
from ztconsole.core.pagination import parse_position


class Command(BaseCommand):
    help = "Issue a certificate from a CSR for an identity (id or username) under a profile."

    def add_arguments(self, parser):
        parser.add_argument("--csr", type=Path, required=True, help="PEM certificate signing request")
        parser.add_argument("--identity", required=True, help="identity id or username")
        parser.add_argument("--profile", required=True, help="fix-client, fix-server, pep or console")
        parser.add_argument("--out", type=Path, required=True, help="where to write the PEM certificate")
        parser.add_argument("--days", type=int, default=None, help="lifetime (at most the profile's maximum)")

    def handle(self, *args, **options):
        try:
            csr = options["csr"].read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read the CSR {exc.filename}: {exc.strerror}") from None
        ref = options["identity"]
        query = Identity.objects.select_related("user")
        identity = (
            query.filter(pk=pk) if (pk := parse_position(ref)) is not None else query.filter(user__username=ref)
        ).first()
        if identity is None:
            raise CommandError(f"identity: no identity {ref!r}")
        out = options["out"]
        if out.is_dir() or not out.parent.is_dir() or not os.access(out.parent, os.W_OK):
            raise CommandError(f"out: cannot write a certificate to {out}")
        try:
            profile = actions.profile_by_name(options["profile"])
            cert = actions.issue_from_csr(
                None, identity=identity, profile=profile, csr_pem=csr, lifetime_days=options["days"]
            )
        except actions.CertificateError as exc:
            raise CommandError(f"{exc.field}: {exc}" if exc.field else str(exc)) from None
        try:
            options["out"].write_text(cert.pem)
        except OSError as exc:
            raise CommandError(f"{cert.serial} issued; {exc.filename} not written: {exc.strerror}") from None
        self.stdout.write(f"Issued {cert.profile.name} certificate {cert.serial} for {identity} until {cert.not_after}")
