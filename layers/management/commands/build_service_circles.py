"""manage.py build_service_circles [--kind K] [--stale]: rebuild the walking graph from the roads
and the facilities' 5/10/15-minute service circles (生活圈), kind by kind with progress. With
--stale only the facilities whose circles are missing or were computed at another walking speed or
access distance than the settings now give (what `make run` does after loading the demo)."""

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
        parser.add_argument(
            "--stale",
            action="store_true",
            help="only circles that are missing or computed with other speed/access settings",
        )

    def handle(self, *args, kind: str | None = None, stale: bool = False, **options) -> None:
        started = time.monotonic()
        walknet.refresh()
        self.stdout.write(
            f"walking graph: {'ok' if walknet.has_edges() else 'no roads'}; "
            f"{coverage.speed_mps()} m/s, access {coverage.access_m()} m"
        )
        todo = None
        if stale:
            todo = set(coverage.stale_facilities(kind))
            if not todo:
                self.stdout.write("服务圈均为最新 / every service circle is up to date")
                return
        total = 0
        for k in [kind] if kind else coverage.KINDS:
            ids = None
            if todo is not None:
                ids = sorted(
                    Facility.objects.filter(kind=k, pk__in=todo).values_list("pk", flat=True)
                )
                if not ids:
                    continue
            t = time.monotonic()
            done = coverage.compute_circles(ids, kind=k)
            total += done
            circles = ServiceCircle.objects.filter(
                facility__kind=k, minutes=max(coverage.THRESHOLDS)
            )
            if ids is not None:
                circles = circles.filter(facility__in=ids)
            network = circles.filter(method=ServiceCircle.Method.NETWORK).count()
            self.stdout.write(
                f"{k}: {done} facilities ({network} network, {done - network} buffer) "
                f"in {time.monotonic() - t:.1f} s"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"服务圈已重算 / {total} facilities done in {time.monotonic() - started:.1f} s"
            )
        )
