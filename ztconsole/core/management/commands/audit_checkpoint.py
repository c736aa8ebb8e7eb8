from django.core.management.base import BaseCommand, CommandError

from ztconsole import auditverify
from ztconsole.core import audit


class Command(BaseCommand):
    help = "Sign the audit chain's head now (e.g. before a backup), or print the checkpoint public key."

    def add_arguments(self, parser):
        parser.add_argument(
            "--public-key", action="store_true", help="print the PEM public key that verifies checkpoints"
        )

    def handle(self, *args, public_key: bool = False, **options):
        if public_key:
            self.stdout.write(auditverify.public_key_pem(audit.signing_key().public_key()), ending="")
            return
        try:
            made = audit.checkpoint()
        except audit.AuditChainBroken as exc:
            raise CommandError(f"checkpoint refused: {exc}", returncode=1) from None
        self.stdout.write(f"checkpoint signed at seq {made.seq} ({made.hash}), key {made.key_id}")
