"""manage.py check_topology [--unit CODE] [--tolerance M2] [--json]: do children tile their
parents, and are the grids numbered in reading order? Exits 1 on errors, not on warnings."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from gridmap.topology import DEFAULT_TOLERANCE_M2, TopologyReport, UnknownUnit, check

_BAD_CODE_REASONS = {
    "wrong_length": "长度与层级不符 / wrong length for its level",
    "not_under_parent": "不以上级编码开头 / does not start with its parent's code",
}


def _at(point: tuple[float, float]) -> str:
    return f"{point[0]:.7f},{point[1]:.7f}"


class Command(BaseCommand):
    help = (
        "检查四级网格拓扑：无缝隙、无重叠、不超出上级，网格编号按阅读顺序 / check that at every "
        "level the children tile the parent, and that grids are numbered in reading order"
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--unit", default="", help="只查编码以此开头的单元及其下级 / only this unit and below"
        )
        parser.add_argument(
            "--tolerance",
            type=float,
            default=DEFAULT_TOLERANCE_M2,
            help="容差（平方米）/ tolerance in m² (default %(default)s)",
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="输出 JSON / print JSON"
        )

    def handle(self, *args, unit: str, tolerance: float, as_json: bool, **options) -> None:
        try:
            report = check(unit, tolerance)
        except (ValueError, UnknownUnit) as exc:  # a bad prefix (CodeError) is a ValueError too
            raise CommandError(str(exc), returncode=2) from exc
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        else:
            self._print(report)
        if not report.ok:
            raise CommandError(
                f"发现 {report.errors} 处拓扑错误 / {report.errors} topology errors found"
            )

    def _print(self, report: TopologyReport) -> None:
        scope = report.unit or "全部 / all"
        self.stdout.write(
            f"范围 / scope: {scope}；容差 / tolerance: {report.tolerance_m2:g} m²；"
            f"上级单元 / parent units: {len(report.tilings)}"
        )
        for t in report.tilings:
            if not t.ok(report.tolerance_m2):
                self.stdout.write(
                    f"  {t.code} {t.name} ({t.level}, {t.children} 个下级 / children): "
                    f"缝隙 / gap {t.gap_m2:.1f} m², 重叠 / overlap {t.overlap_m2:.1f} m², "
                    f"超出 / outside {t.outside_m2:.1f} m²"
                )
        self._section(
            "缝隙 / gaps",
            [f"{g.parent}: {g.area_m2:.1f} m² @ {_at(g.point)}" for g in report.gaps],
        )
        self._section(
            "重叠 / overlaps",
            [f"{o.a} × {o.b}: {o.area_m2:.1f} m² @ {_at(o.point)}" for o in report.overlaps],
        )
        self._section(
            "超出上级 / outside the parent",
            [
                f"{o.child} ⊄ {o.parent}: {o.area_m2:.1f} m² @ {_at(o.point)}"
                for o in report.outside
            ],
        )
        self._section(
            "编码错误 / bad codes",
            [
                f"{b.code} (上级 / parent {b.parent}): {_BAD_CODE_REASONS[b.reason]}"
                for b in report.bad_codes
            ],
        )
        self._section(
            "编号未按阅读顺序（警告）/ codes out of reading order (warnings)",
            [
                f"{o.code}: 按阅读顺序应排第 {o.expected}，按编码排第 {o.actual} / "
                f"reading-order position {o.expected}, code position {o.actual}"
                for o in report.order
            ],
            style=self.style.WARNING,
        )
        if report.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    f"无拓扑错误，{report.warnings} 条警告 / no topology errors, "
                    f"{report.warnings} warnings"
                )
            )

    def _section(self, title: str, lines: list[str], style=None) -> None:
        if not lines:
            return
        style = style or self.style.ERROR
        self.stdout.write(style(f"{title} ({len(lines)}):"))
        for line in lines:
            self.stdout.write(f"  {line}")
