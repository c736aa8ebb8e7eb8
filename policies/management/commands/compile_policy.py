"""manage.py compile_policy --environment prod [--draft] --out bundle.json"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Environment
from policies import actions, selectors


class Command(BaseCommand):
    help = (
        "Write a signed bundle: the latest approved version of an environment, or with --draft its draft "
        "(numbered one above the latest version, issued at the draft's last change, so compiling is deterministic)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--environment", required=True, choices=Environment.values)
        parser.add_argument("--draft", action="store_true", help="compile and sign the draft instead")
        parser.add_argument("--out", type=Path, required=True, help="file to write ('-' for standard output)")

    def handle(self, *args, **options):
        environment = options["environment"]
        try:
            if options["draft"]:
                raw = selectors.signed_draft(environment)
            else:
                published = actions.latest_approved(environment)
                if published is None:
                    raise CommandError(f"{environment} has no approved version: use --draft, or publish first")
                raw = published.bundle.encode()
        except actions.PolicyError as exc:
            raise CommandError(str(exc)) from None
        if str(options["out"]) == "-":
            self.stdout.write(raw.decode())
            return
        options["out"].write_bytes(raw)
        self.stderr.write(f"wrote {len(raw)} bytes to {options['out']}")
