"""manage.py import_layer LAYER FILE [--crs CRS] [--encoding E] [--layer NAME] [--field T=F]…
[--code-field F] [--name-field F] [--lon-field F] [--lat-field F] [--address-field F]
[--fix-invalid] [--commit] [--json]: import buildings, cameras, facilities, roads or households
from a GeoJSON, GeoPackage, zipped Shapefile or (points, households) CSV or Excel .xlsx. A dry run unless
--commit; exits 1 when the file cannot be used or has errors. See docs/import.md.
"""

from __future__ import annotations

from layers.exchange.importing import LAYERS, import_layer, parse_mapping
from layers.management.commands.import_units import ImportCommand


class Command(ImportCommand):
    help = (
        "导入图层要素（建筑、摄像头、设施、道路、住户），缺省只预演 / import a map layer; a dry "
        "run unless --commit"
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("layer_name", metavar="LAYER", choices=list(LAYERS))
        super().add_arguments(parser)
        parser.add_argument(
            "--field",
            action="append",
            default=[],
            metavar="TARGET=FIELD",
            help="字段映射，可重复，如 road=路名 / map a layer field to the file's, repeatable",
        )
        parser.add_argument("--lon-field", help="CSV 经度列 / the CSV's longitude column")
        parser.add_argument("--lat-field", help="CSV 纬度列 / the CSV's latitude column")
        parser.add_argument(
            "--address-field",
            help="地址列，按地址定位到建筑 / address column, placed at its building",
        )

    def handle(self, *args, **opts) -> None:
        def run():
            options = self.options(opts, parse_mapping(opts["field"]))
            return import_layer(opts["layer_name"], opts["file"], options)

        self.run(run, opts["as_json"])
