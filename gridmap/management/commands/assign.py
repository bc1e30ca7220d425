"""manage.py assign [--layer NAME] [--area WKT]: assign layers to grids, set-based in SQL."""

from __future__ import annotations

import time

from django.contrib.gis.geos import GEOSException, GEOSGeometry
from django.core.management.base import BaseCommand, CommandError

from gridmap.assignment import (
    AssignmentResult,
    assign_all,
    assignable_models,
    get_layer,
    layer_name,
)


class Command(BaseCommand):
    help = "把图层要素分配到网格 / assign layer rows to the grid they lie in (all layers or one)"

    def add_arguments(self, parser) -> None:
        names = ", ".join(layer_name(m) for m in assignable_models())
        parser.add_argument(
            "--layer", action="append", help=f"only this layer ({names}); repeatable"
        )
        parser.add_argument(
            "--area", help="only rows inside this area (WKT or GeoJSON, WGS84): incremental"
        )

    def handle(self, *args, layer=None, area=None, **options) -> None:
        try:
            layers = [get_layer(name) for name in layer] if layer else None
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        geometry = None
        if area:
            try:
                geometry = GEOSGeometry(area, srid=4326)
            except (GEOSException, ValueError) as exc:
                raise CommandError(f"--area 无法解析 / cannot parse --area: {exc}") from None
            if not geometry.valid:
                raise CommandError(f"--area 几何无效 / invalid --area: {geometry.valid_reason}")

        started = time.perf_counter()
        layer_started = [started]

        def report(result: AssignmentResult) -> None:
            now = time.perf_counter()
            self.stdout.write(
                f"{result.layer:<10} {result.total:>9} rows  assigned {result.assigned:>9}  "
                f"unassigned {result.unassigned:>7}  changed {result.changed:>9}  "
                f"({now - layer_started[0]:.1f} s)"
            )
            layer_started[0] = now

        results = assign_all(area=geometry, layers=layers, progress=report)
        total = sum(r.total for r in results)
        unassigned = sum(r.unassigned for r in results)
        changed = sum(r.changed for r in results)
        self.stdout.write(
            self.style.SUCCESS(
                f"完成 / done: {total} rows, {unassigned} outside every grid, {changed} changed, "
                f"{time.perf_counter() - started:.1f} s"
            )
        )
