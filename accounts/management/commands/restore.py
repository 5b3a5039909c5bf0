"""`manage.py restore <file>`: replace the whole database with a backup."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from accounts import backups


class Command(BaseCommand):
    help = "Replace the database with a backup made by `manage.py backup`. Everything since that backup is lost."

    def add_arguments(self, parser):
        parser.add_argument("path", help="The backup file (.dump for PostgreSQL, .sqlite3 for SQLite).")
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive")
        parser.add_argument("--database", default="default")

    def handle(self, *args, path, interactive, database, **options):
        connection = connections[database]
        name = connection.settings_dict["NAME"]
        if interactive:
            answer = input(f"This replaces everything in the database {name} with {path}. Type 'yes' to go on: ")
            if answer.strip() != "yes":
                raise CommandError("Restore cancelled; nothing was changed.")
        try:
            backups.restore(connection, Path(path))
        except backups.BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Restored {name} from {path}. Run `manage.py migrate` if the backup is from an older release."
        )
