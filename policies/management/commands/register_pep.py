"""manage.py register_pep --name N --environment E --control-url URL --csr FILE --out CERT [--token-out FILE]"""

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.actions.core import ActionError
from accounts.models import Identity
from policies.distribution.actions import register_enforcement_point


class Command(BaseCommand):
    help = "Issue an enforcement point's certificate (profile pep) from its CSR and register it, pinned."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="the point's name, e.g. pep-ldn-1")
        parser.add_argument("--environment", required=True, help="prod, uat or dev")
        parser.add_argument("--control-url", required=True, help="https://host:port of its control listener")
        parser.add_argument("--csr", type=Path, required=True, help="the point's PEM certificate signing request")
        parser.add_argument("--out", type=Path, required=True, help="where to write the PEM certificate")
        parser.add_argument(
            "--token-out", type=Path, help="where to write its bundle token (mode 0600; default: OUT.token)"
        )
        parser.add_argument("--segments", default="", help="segment names it fronts, comma-separated")
        parser.add_argument("--sponsor", help="username of the person sponsoring its identity (default: an admin)")
        parser.add_argument("--days", type=int, default=None, help="certificate lifetime (at most the profile's)")

    def handle(self, *args, **options):
        try:
            csr = options["csr"].read_bytes()
        except OSError as exc:
            raise CommandError(f"csr: cannot read {exc.filename}: {exc.strerror}") from None
        out: Path = options["out"]
        token_out: Path = options["token_out"] or out.with_name(out.name + ".token")
        for label, path in (("out", out), ("token-out", token_out)):
            if path.is_dir() or not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
                raise CommandError(f"{label}: cannot write to {path}")
        sponsor = None
        if options["sponsor"]:
            sponsor = Identity.objects.filter(user__username=options["sponsor"]).first()
            if sponsor is None:
                raise CommandError(f"sponsor: no identity {options['sponsor']!r}")
        try:
            point, cert, token = register_enforcement_point(
                None,
                name=options["name"],
                environment=options["environment"],
                control_url=options["control_url"],
                csr_pem=csr,
                segments=[s for s in options["segments"].split(",") if s.strip()],
                sponsor=sponsor,
                lifetime_days=options["days"],
            )
        except ActionError as exc:
            raise CommandError(f"{exc.field}: {exc}" if exc.field else str(exc)) from None
        out.write_text(cert.pem)
        descriptor = os.open(token_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(token + "\n")
        self.stdout.write(
            f"Registered {point.name} ({point.environment}) at {point.control_url}; certificate {cert.serial} "
            f"pinned sha256 {cert.sha256} written to {out}; bundle token written to {token_out}"
        )
