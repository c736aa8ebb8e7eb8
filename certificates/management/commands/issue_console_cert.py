"""manage.py issue_console_cert: a new client certificate for the console (profile ``console``)."""

from django.core.management.base import BaseCommand, CommandError

from certificates.actions import CertificateError
from certificates.console import issue_console_credential


class Command(BaseCommand):
    help = "Issue (or rotate) the console's client certificate for the enforcement points' control API."

    def handle(self, *args, **options):
        try:
            credential = issue_console_credential(None)
        except CertificateError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Console client certificate {credential.serial} ({credential.uri}) sha256 {credential.sha256} "
            f"until {credential.not_after}"
        )
