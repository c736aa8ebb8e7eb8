"""manage.py init_signing_key [--rotate]"""

from django.core.management.base import BaseCommand, CommandError

from policies import actions


class Command(BaseCommand):
    help = "Generate the Ed25519 policy-signing key (stored encrypted); --rotate replaces the active one."

    def add_arguments(self, parser):
        parser.add_argument("--rotate", action="store_true", help="deactivate the current key and create a new one")

    def handle(self, *args, **options):
        try:
            key = actions.init_signing_key(None, rotate=options["rotate"])
        except actions.PolicyError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Signing key {key.kid} created; private key encrypted at rest.")
        self.stdout.write("Public key: /policies/signing-key.pem")
