"""`manage.py backup`: a whole-database backup into a folder, keeping the newest N."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.utils import timezone

from accounts import backups


class Command(BaseCommand):
    help = "Back up the database (pg_dump custom format, or SQLite's online backup) and keep the newest --keep."

    def add_arguments(self, parser):
        parser.add_argument("--dir", default=str(settings.VAR_DIR / "backups"), help="Folder (default var/backups).")
        parser.add_argument("--keep", type=int, default=14, help="Backups to keep in the folder (default 14).")
        parser.add_argument("--database", default="default")

    def handle(self, *args, dir, keep, database, **options):
        if keep < 1:
            raise CommandError("--keep must be at least 1.")
        connection = connections[database]
        directory = Path(dir)
        path = directory / backups.backup_file_name(connection.vendor, timezone.now())
        try:
            backups.backup(connection, path)
        except backups.BackupError as exc:
            raise CommandError(str(exc)) from exc
        pruned = backups.prune(directory, vendor=connection.vendor, keep=keep)
        self.stdout.write(f"Backed up to {path} ({path.stat().st_size} bytes).")
        if pruned:
            self.stdout.write(f"Removed {len(pruned)} older backup(s); kept the newest {keep}.")
