"""manage.py init_ca [--rsa] [--name NAME] [--import-cert FILE --import-key FILE]"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from certificates import actions


class Command(BaseCommand):
    help = "Create the root and issuing CA (ECDSA P-384, or RSA 4096 with --rsa), or import an existing CA."

    def add_arguments(self, parser):
        parser.add_argument("--rsa", action="store_true", help="RSA 4096 instead of ECDSA P-384")
        parser.add_argument("--name", default="ZT Console", help="common name prefix of the CA certificates")
        parser.add_argument("--import-cert", type=Path, help="PEM CA certificate (an intermediate: then its root)")
        parser.add_argument("--import-key", type=Path, help="PEM private key of that CA certificate (unencrypted)")

    def handle(self, *args, **options):
        cert_pem = key_pem = None
        try:
            if options["import_cert"]:
                cert_pem = options["import_cert"].read_bytes()
            if options["import_key"]:
                key_pem = options["import_key"].read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {exc.filename}: {exc.strerror}") from None
        try:
            ca = actions.init_ca(
                None,
                use_rsa=options["rsa"],
                common_name=options["name"],
                import_cert_pem=cert_pem,
                import_key_pem=key_pem,
            )
        except actions.CertificateError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Issuing CA {ca.name} ({ca.key_description}) under {ca.parent.name}; keys encrypted.")
        self.stdout.write("Chain: /pki/chain.pem, CRL: /pki/crl.pem and /pki/crl.der")
        from certificates.console import issue_console_credential

        credential = issue_console_credential(None)
        self.stdout.write(
            f"Console client certificate {credential.serial} ({credential.uri}) until {credential.not_after}"
        )
