import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from console.demo import load_demo_hardware_tokens, load_demo_personas, load_demo_pki


class Command(BaseCommand):
    help = "Load the demo personas, CA, hardware tokens and sample policy (DEBUG only). Each run resets passwords."

    def add_arguments(self, parser):
        parser.add_argument(
            "--tokens-file",
            help="append the serial and seed of each hardware token put in stock to this file (mode 0600)",
        )
        parser.add_argument(
            "--fix-dir",
            type=Path,
            help="also set up the FIX demo (algorithms, certificates, published policy, two PEPs) and write its "
            "keys, certificates, tokens and manifest.json here (docs/demo.md)",
        )
        parser.add_argument(
            "--fix-port-base",
            type=int,
            default=9870,
            help="first of five loopback ports: venue, prod PEP FIX + control, uat PEP FIX + control (default 9870)",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("load_demo runs only with DJANGO_DEBUG=1: it prints credentials")
        for persona in load_demo_personas():
            self.stdout.write(
                f"{persona.username:<6} {persona.role:<19} password {persona.password}  TOTP {persona.totp_secret}"
            )
            self.stdout.write(f"       {persona.otpauth_uri}")
        pki = load_demo_pki()
        if pki:
            self.stdout.write("\n" + pki)
        tokens = load_demo_hardware_tokens()
        if tokens:
            self.stdout.write("\nHardware HOTP tokens in stock (enroll one on your profile page with two codes):")
            for serial, seed in tokens:
                self.stdout.write(f"  {serial}  seed {seed}  codes: oathtool --hotp -c 0 -w 1 {seed}")
            if options["tokens_file"]:
                self._keep_seeds(Path(options["tokens_file"]), tokens)
        # The policy layer's demo data (signing key, sample draft) comes last: it grants the personas above.
        from policies.demo import load_demo_policy

        policy = load_demo_policy()
        if policy:
            self.stdout.write("\n" + policy)
        if options["fix_dir"]:
            from console.demo_fix import DemoPorts, load_demo_fix

            fix = load_demo_fix(options["fix_dir"], DemoPorts.from_base(options["fix_port_base"]))
            if fix:
                self.stdout.write("\n" + fix)

    def _keep_seeds(self, path: Path, tokens: list[tuple[str, str]]) -> None:
        new = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as out:
            if new:
                out.write("# serial,hex seed,type,digits,counter at import: the demo's hardware HOTP tokens\n")
            for serial, seed in tokens:
                out.write(f"{serial},{seed},hotp,6,0\n")
        self.stdout.write(f"Their seeds are kept in {path}")
