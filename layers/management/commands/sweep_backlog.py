"""manage.py sweep_backlog [--dry-run]: move overdue dispatched and handling cases to backlog (挂账),
logged as done by the system. Meant to run every few minutes (cron or a systemd timer)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from layers.models import Incident
from layers.workflow import sweep_backlog


class Command(BaseCommand):
    help = "超时案件自动挂账 / move overdue dispatched and handling cases to backlog"

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="only count the cases that would move"
        )

    def handle(self, *args, dry_run=False, **options) -> None:
        moved = sweep_backlog(dry_run=dry_run)
        labels = dict(Incident.Status.choices)
        for status, n in moved.items():
            self.stdout.write(f"{labels[status]} {status} → backlog: {n}")
        verb = "将挂账 / would move" if dry_run else "已挂账 / moved"
        self.stdout.write(self.style.SUCCESS(f"{verb}: {sum(moved.values())}"))
