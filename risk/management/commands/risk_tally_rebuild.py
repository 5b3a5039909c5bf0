"""Check or rebuild the dashboard's kept flag figures (risk.PatientFlagSummary, risk.FlagTally)
from the active flags. The services keep them in step; this is for after rows were written
past them (a bulk load, a restore of part of a database) and for proof that they held."""

from django.core.management.base import BaseCommand, CommandError

from risk.services import flag_summaries_rebuild


class Command(BaseCommand):
    help = (
        "Compare every patient's flag summary and the clinic's flag totals with the active flags, "
        "and rebuild what differs. --check: report only, exit 1 when anything differs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Report what differs; write nothing.")

    def handle(self, *args, check, **options):
        wrong = flag_summaries_rebuild(check_only=check)
        summary = f"{wrong['patients']} patient summaries and {wrong['keys']} totals differed from the flags"
        if check and any(wrong.values()):
            raise CommandError(summary + ".")
        self.stdout.write(summary + ("." if check else "; rebuilt."))
