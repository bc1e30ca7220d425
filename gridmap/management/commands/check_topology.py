"""manage.py check_topology [--code PREFIX] [--tolerance M2]: do children tile their parents?"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from gridmap.topology import DEFAULT_TOLERANCE_M2, tiling_reports


class Command(BaseCommand):
    help = "检查四级网格是否无缝无重叠 / check that at every level the children tile the parent"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--code", default="", help="only units whose code starts with this")
        parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE_M2, help="m²")

    def handle(self, *args, code: str, tolerance: float, **options) -> None:
        reports = tiling_reports(code, tolerance)
        bad = [r for r in reports if not r.ok(tolerance)]
        for r in bad:
            self.stdout.write(
                f"{r.code} {r.name} ({r.level}, {r.children} children): gap {r.gap_m2:.1f} m², "
                f"overlap {r.overlap_m2:.1f} m², outside {r.outside_m2:.1f} m²"
            )
            for gap in r.gaps[:10]:
                self.stdout.write(
                    f"    gap {gap.area_m2:.1f} m² at {gap.point[0]:.7f},{gap.point[1]:.7f}"
                )
        if bad:
            raise CommandError(
                f"{len(bad)} / {len(reports)} 个单元未被下级无缝覆盖 / units not tiled by their children"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(reports)} 个单元均无缝无重叠 / units tiled without gap or overlap"
            )
        )
