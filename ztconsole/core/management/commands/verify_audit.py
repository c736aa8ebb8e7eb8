from django.core.management.base import BaseCommand, CommandError

from ztconsole.core.audit import verify_chain


class Command(BaseCommand):
    help = "Walk the audit hash chain; exit 0 when intact, 1 naming the first broken event."

    def handle(self, *args, **options):
        report = verify_chain()
        if not report.ok:
            raise CommandError(
                f"audit chain BROKEN at event seq {report.first_broken_seq}: {report.problem} "
                f"({report.checked} events verified before it)",
                returncode=1,
            )
        self.stdout.write(f"audit chain intact: {report.checked} events verified")
