from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ztconsole.core import audit


class Command(BaseCommand):
    help = (
        "Write the audit chain as JSON Lines up to a checkpoint signed for this export; verify the file "
        "anywhere with `python -m ztconsole.auditverify FILE --checkpoint ... --public-key ...`."
    )

    def add_arguments(self, parser):
        parser.add_argument("output", type=Path, help="file to write (must not exist)")

    def handle(self, *args, output: Path, **options):
        try:
            handle = output.open("x", encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot create {output}: {exc.strerror}", returncode=2) from None
        try:
            with handle:
                made, count = audit.export_events(handle.write)
        except audit.AuditChainBroken as exc:
            output.unlink(missing_ok=True)
            raise CommandError(f"export refused: {exc}", returncode=1) from None
        self.stdout.write(f"{count} events written to {output}, up to the checkpoint at seq {made.seq}")
