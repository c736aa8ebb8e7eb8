from django.core.management.base import BaseCommand, CommandError

from accounts.actions import ActionError, bootstrap_admin


class Command(BaseCommand):
    help = (
        "Create the very first administrator and print a generated password and a one-time enrollment "
        "code (valid ZT_ENROLLMENT_CODE_TTL_HOURS). Refuses once any administrator exists."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", required=True)

    def handle(self, *args, username: str, email: str, **options):
        try:
            result = bootstrap_admin(username, email)
        except ActionError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"administrator:    {result.user.get_username()}")
        self.stdout.write(f"password:         {result.password}")
        self.stdout.write(f"enrollment code:  {result.enrollment_code}")
        self.stdout.write("Sign in, enter the enrollment code, and enroll an authenticator. Both are shown once.")
