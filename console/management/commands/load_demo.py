from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from console.demo import load_demo_hardware_tokens, load_demo_personas, load_demo_pki


class Command(BaseCommand):
    help = "Load the demo personas (DEBUG only). Each run resets their passwords and TOTP secrets."

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
