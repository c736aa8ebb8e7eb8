from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.actions import ActionError
from accounts.actions.mfa import import_token_seeds


class Command(BaseCommand):
    help = (
        "Import hardware OATH token seeds (PSKC per RFC 6030, or OATH CSV serial,key,type,digits,counter|step) "
        "into the token inventory. A file with a bad MAC, a wrong key or malformed content imports nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        secret = parser.add_mutually_exclusive_group()
        secret.add_argument("--psk", default="", help="pre-shared key in hex (PSKC pre-shared-key encryption)")
        secret.add_argument("--password", default="", help="password (PSKC PBKDF2 encryption)")

    def handle(self, *args, file: Path, psk: str, password: str, **options):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}") from None
        try:
            summary = import_token_seeds(None, data=data, filename=file.name, psk_hex=psk, password=password)
        except ActionError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"imported {len(summary.imported)}, skipped {len(summary.skipped)} (duplicate serial), "
            f"rejected {len(summary.rejected)}"
        )
        for item in summary.skipped:
            self.stdout.write(f"  skipped  {item.serial}: {item.reason}")
        for item in summary.rejected:
            self.stdout.write(f"  rejected {item.serial or '-'}: {item.reason}")
