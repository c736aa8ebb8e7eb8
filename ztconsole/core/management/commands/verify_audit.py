from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ztconsole import auditverify
from ztconsole.core.audit import verify_chain


class Command(BaseCommand):
    help = (
        "Walk the audit hash chain against the signed checkpoints (the database's and those outside it); "
        "exit 0 when intact, 1 naming the first broken event, 2 when an input cannot be read."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoint",
            type=Path,
            help="checkpoint file or directory to hold the chain against (default: ZT_AUDIT_CHECKPOINT_PATH)",
        )
        parser.add_argument(
            "--public-key",
            type=Path,
            help="PEM file of the checkpoint public key(s) to trust (default: the configured key)",
        )

    def handle(self, *args, checkpoint=None, public_key=None, **options):
        try:
            keys = auditverify.load_public_keys(public_key.read_text()) if public_key else None
            checkpoints = auditverify.read_checkpoints(checkpoint) if checkpoint else None
        except (OSError, auditverify.KeyFormatError, auditverify.CheckpointError) as exc:
            raise CommandError(str(exc), returncode=2) from None
        report = verify_chain(checkpoints, keys)
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        if not report.ok:
            raise CommandError(report.summary(), returncode=1)
        self.stdout.write(report.summary())
