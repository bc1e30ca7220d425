"""manage.py build_service_circles [--kind K]: rebuild the walking graph from the roads and every
facility's 5/10/15-minute service circles (生活圈), kind by kind with progress."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from layers import coverage
from layers.models import Facility, ServiceCircle
from layers.services import walknet


class Command(BaseCommand):
    help = "重算服务圈 / rebuild the 15-minute service circles"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--kind", choices=Facility.Kind.values, help="only this kind")

    def handle(self, *args, kind: str | None = None, **options) -> None:
        started = time.monotonic()
        walknet.refresh()
        self.stdout.write(f"walking graph: {'ok' if walknet.has_edges() else 'no roads'}")
        for k in [kind] if kind else coverage.KINDS:
            t = time.monotonic()
            done = coverage.compute_circles(kind=k)
            methods = ServiceCircle.objects.filter(facility__kind=k, minutes=15)
            network = methods.filter(method=ServiceCircle.Method.NETWORK).count()
            self.stdout.write(
                f"{k}: {done} facilities ({network} network, {done - network} buffer) "
                f"in {time.monotonic() - t:.1f} s"
            )
        self.stdout.write(
            self.style.SUCCESS(f"服务圈已重算 / done in {time.monotonic() - started:.1f} s")
        )
