"""manage.py import_units FILE [--level L] [--crs CRS] [--encoding E] [--layer NAME]
[--code-field F] [--name-field F] [--parent-field F] [--fix-invalid] [--commit] [--json]: import
grid unit boundaries from a GeoJSON, GeoPackage or zipped Shapefile. A dry run unless --commit;
exits 1 when the file cannot be used or has errors (then nothing is written). See docs/import.md.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from gridmap import codes
from layers.exchange.importing import ImportFileError, ImportOptions, ImportReport, import_units

# Items listed one per line; the rest are counted.
MAX_LINES = 50
_ACTION = {"created": "+", "changed": "~", "unchanged": "="}
_SOURCE = {
    "cpg": "来自 .cpg / from the .cpg",
    "given": "指定 / given",
    "detected": "自动判断 / detected",
    "file": "文件自带 / the file's",
}


class ImportCommand(BaseCommand):
    """What import_units and import_layer share: reading options, the run, the printed report."""

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="GeoJSON、GeoPackage、Shapefile（.zip）/ the file")
        parser.add_argument(
            "--crs",
            help="坐标系，缺省取文件自带 / the CRS when the file has none or a wrong one: "
            "EPSG:4326, EPSG:4490, EPSG:3857, EPSG:4498 (CGCS2000 Gauss–Krüger), gcj02, bd09",
        )
        parser.add_argument(
            "--encoding",
            help="属性文字编码，缺省取 .cpg 或自动判断 / attribute text encoding (gbk, utf-8); "
            "default: the .cpg's, else detected",
        )
        parser.add_argument(
            "--layer", help="GeoPackage 图层或压缩包中的 Shapefile / GeoPackage layer or shapefile"
        )
        parser.add_argument("--code-field", help="编码字段 / the code field")
        parser.add_argument("--name-field", help="名称字段 / the name field")
        parser.add_argument(
            "--fix-invalid",
            action="store_true",
            help="用 make-valid 修复无效几何并报告 / repair invalid polygons and report it",
        )
        parser.add_argument(
            "--commit",
            action="store_true",
            help="写入数据库（缺省只预演）/ write (default: dry run)",
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="输出 JSON / print JSON"
        )

    def options(self, opts: dict[str, Any], fields: dict[str, str]) -> ImportOptions:
        given = {
            "code": opts.get("code_field"),
            "name": opts.get("name_field"),
            **fields,
        }
        return ImportOptions(
            crs=opts.get("crs"),
            encoding=opts.get("encoding"),
            layer=opts.get("layer"),
            fields={k: v for k, v in given.items() if v},
            lon_field=opts.get("lon_field"),
            lat_field=opts.get("lat_field"),
            address_field=opts.get("address_field"),
            fix_invalid=opts["fix_invalid"],
            commit=opts["commit"],
        )

    def run(self, do_import, as_json: bool) -> None:
        try:
            report = do_import()
        except ImportFileError as exc:
            raise CommandError(exc.detail) from exc
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        else:
            self.print_report(report)
        if not report.ok:
            raise CommandError(
                f"发现 {report.errors} 个错误，未导入任何内容 / {report.errors} errors: nothing "
                "was imported"
            )

    def print_report(self, report: ImportReport) -> None:
        out = self.stdout.write
        f = report.file
        layer = f" {f['layer']}" if f["layer"] else ""
        out(f"文件 / file: {f['name']} ({f['format']}{layer}, {f['features']} 个要素 / features)")
        if report.encoding:
            source = _SOURCE[report.encoding["source"]]
            out(f"编码 / encoding: {report.encoding['name']} ({source})")
        if report.crs:
            out(f"坐标系 / CRS: {report.crs['used']} ({_SOURCE[report.crs['source']]}) → WGS84")
        mapping = ", ".join(f"{k}={v or '–'}" for k, v in report.fields.items())
        out(f"字段 / fields: {mapping}")
        for note in report.notes:
            out(f"  · {note}")
        out(
            f"新建 / created {report.created} · 修改 / changed {report.changed} · "
            f"不变 / unchanged {report.unchanged} · 修复 / fixed {len(report.fixed)}"
        )
        self._lines(
            [
                f"{_ACTION[i['action']]} {i['code']} {i['name']} ({i['level']}, "
                f"{i['area_m2']:.1f} m², v{i['version_before'] or '–'} → v{i['version_after']})"
                for i in report.items
            ]
        )
        self._section(
            "问题 / problems",
            [
                f"#{p.feature or '–'} {p.code or ''} [{p.error}] {p.detail}{_at(p.point)}"
                for p in report.problems
            ],
        )
        self._section(
            "已修复 / repaired",
            [
                f"#{x.feature} {x.code or ''}: {x.reason}; {x.area_m2_before:.1f} → "
                f"{x.area_m2_after:.1f} m²{_at(x.point)}"
                for x in report.fixed
            ],
            self.style.WARNING,
        )
        self._section(
            "拓扑 / topology",
            [f"[{p.severity}] {p.error}: {p.detail}{_at(p.point)}" for p in report.topology],
        )
        for layer, moves in report.reassignment.items():
            if "moved" in moves:
                pairs = ", ".join(
                    f"{m['from'] or '–'} → {m['to'] or '–'}: {m['count']}" for m in moves["pairs"]
                )
                out(f"重新分配 / reassigned {layer}: {moves['moved']} ({pairs})")
            else:
                out(
                    f"分配网格 / assigned {layer}: {moves['assigned']} 个在网格内 / in a grid, "
                    f"{moves['unassigned']} 个不在 / in none"
                )
        if report.committed:
            self.stdout.write(self.style.SUCCESS("已导入 / committed"))
        elif report.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    "预演，未写入；加 --commit 导入 / dry run, nothing written; "
                    "add --commit to import"
                )
            )

    def _lines(self, lines: list[str]) -> None:
        for line in lines[:MAX_LINES]:
            self.stdout.write(f"  {line}")
        if len(lines) > MAX_LINES:
            self.stdout.write(
                f"  … 另有 {len(lines) - MAX_LINES} 条 / {len(lines) - MAX_LINES} more"
            )

    def _section(self, title: str, lines: list[str], style=None) -> None:
        if lines:
            self.stdout.write((style or self.style.ERROR)(f"{title} ({len(lines)}):"))
            self._lines(lines)


def _at(point: list[float] | None) -> str:
    return f" @ {point[0]:.7f},{point[1]:.7f}" if point else ""


class Command(ImportCommand):
    help = (
        "导入网格边界（GeoJSON、GeoPackage、Shapefile），缺省只预演 / import grid unit "
        "boundaries; a dry run unless --commit"
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--level",
            choices=codes.LEVELS,
            help="层级；缺省按编码长度 / the level; default: from each code's length",
        )
        parser.add_argument("--parent-field", help="上级编码字段 / the parent code field")

    def handle(self, *args, **opts) -> None:
        fields = {"parent_code": opts["parent_field"]} if opts["parent_field"] else {}
        options = self.options(opts, fields)
        self.run(lambda: import_units(opts["file"], opts["level"], options), opts["as_json"])
