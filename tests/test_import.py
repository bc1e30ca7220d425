"""Specification of the file import (docs/import.md): grid units and map layers from GeoJSON,
GeoPackage, zipped Shapefiles (GBK or UTF-8) and CSV, in every CRS Chinese data arrives in; a dry
run unless committed, one transaction, and a broken file imports nothing.

The test files are written into tmp_path with geopandas/pyogrio.
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from django.contrib.gis.geos import Point
from django.core.management import CommandError, call_command
from pyproj import Transformer
from shapely.geometry import Polygon, box

from gridmap import coords
from gridmap.geometry import to_shapely
from gridmap.models import GridUnit, UnitVersion
from layers.exchange.importing import ImportFileError, ImportOptions, import_layer, import_units
from layers.models import Building, Camera, Facility, Household, Road
from layers.services import walknet
from tests.browser import MapPage, logged_in_client, map_page_fixture
from tests.conftest import G1, G2, G3, HOLE_A, HOLE_B, NODE, make_unit, multi
from tests.conftest import box as geos_box

# What writing the test shapefiles says on purpose: a long field name, a file without a CRS.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Column names longer than 10:UserWarning"),
    pytest.mark.filterwarnings("ignore:Normalized/laundered field name:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning"),
]

# An empty community (no grids yet) east of the conftest world, for new grids to tile.
NETWORK2, SEGMENT2, NODE2 = "620300", "620300001", "620300001001"
X2, Y2 = 98.100, 39.000
CELL = 0.002  # three grids of 0.002° × 0.002° side by side
NEW_GRIDS = [f"{NODE2}{i:03d}" for i in (1, 2, 3)]
GBK_NAMES = ["朝阳里网格", "胜利街网格", "钢城东路网格"]
METRE_DEG = 1e-5  # about a metre, in degrees at this latitude


@pytest.fixture
def empty_node(db) -> GridUnit:
    whole = geos_box(X2, Y2, X2 + 3 * CELL, Y2 + CELL)
    network = make_unit("network", NETWORK2, multi(whole), name="测试区")
    segment = make_unit("segment", SEGMENT2, multi(whole.clone()), network, name="朝阳街道")
    return make_unit("node", NODE2, multi(whole.clone()), segment, name="朝阳社区")


def new_grids(names=GBK_NAMES, codes=NEW_GRIDS, parent=True, **columns) -> gpd.GeoDataFrame:
    """The three grids tiling the empty node, in WGS84."""
    data = {"code": codes, "name": names, **columns}
    if parent:
        data["parent_code"] = [NODE2] * len(codes)
    cells = [box(X2 + i * CELL, Y2, X2 + (i + 1) * CELL, Y2 + CELL) for i in range(len(codes))]
    return gpd.GeoDataFrame(data, geometry=cells, crs=4326)


def shapefile_zip(
    tmp_path: Path,
    frame: gpd.GeoDataFrame,
    *,
    encoding: str = "gbk",
    cpg: bool = True,
    prj: bool = True,
    name: str = "grids",
) -> Path:
    """A zipped shapefile as a 街道 office sends it: .shp, .shx, .dbf (text in `encoding`),
    with or without its .cpg and .prj."""
    folder = tmp_path / name
    folder.mkdir()
    frame.to_file(folder / f"{name}.shp", encoding=encoding)
    parts = {".shp", ".shx", ".dbf"} | ({".cpg"} if cpg else set()) | ({".prj"} if prj else set())
    archive = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for part in sorted(parts):
            if (folder / f"{name}{part}").exists():
                z.write(folder / f"{name}{part}", f"{name}{part}")
    return archive


def geojson(tmp_path: Path, frame: gpd.GeoDataFrame, name: str = "units.geojson") -> Path:
    path = tmp_path / name
    frame.to_file(path, driver="GeoJSON")
    return path


def write_csv(tmp_path: Path, rows: list[dict], name: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    with path.open("w", newline="", encoding=encoding) as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def committed(**kw) -> ImportOptions:
    return ImportOptions(commit=True, **kw)


def grid_geoms() -> dict[str, shapely.Geometry]:
    return {u.code: to_shapely(u.geom) for u in GridUnit.objects.filter(level="grid")}


# --- reading: encodings ----------------------------------------------------------------------


def test_gbk_shapefile_with_cpg_imports_names_intact(tmp_path, empty_node):
    archive = shapefile_zip(tmp_path, new_grids().to_crs(4490))
    report = import_units(archive, "grid", committed())
    assert report.committed, report.as_dict()
    assert report.encoding == {"name": "gb18030", "source": "cpg"}
    assert report.created == 3
    names = dict(GridUnit.objects.filter(parent=empty_node).values_list("code", "name"))
    assert names == dict(zip(NEW_GRIDS, GBK_NAMES, strict=True))
    # The .dbf keeps 10 characters of a field name: parent_code arrives as parent_cod.
    assert report.fields["parent_code"] == "parent_cod"


def test_gbk_shapefile_without_cpg_is_detected_as_gbk(tmp_path, empty_node):
    archive = shapefile_zip(tmp_path, new_grids(), cpg=False)
    report = import_units(archive, "grid", committed())
    assert report.encoding == {"name": "gb18030", "source": "detected"}
    assert any(".cpg" in note for note in report.notes)
    assert set(GridUnit.objects.filter(parent=empty_node).values_list("name", flat=True)) == set(
        GBK_NAMES
    )


def test_utf8_shapefile_without_cpg_is_detected_as_utf8(tmp_path, empty_node):
    archive = shapefile_zip(tmp_path, new_grids(), encoding="utf-8", cpg=False)
    report = import_units(archive, "grid", committed())
    assert report.encoding == {"name": "utf-8", "source": "detected"}
    assert GridUnit.objects.get(code=NEW_GRIDS[1]).name == GBK_NAMES[1]


def test_given_encoding_overrides_a_wrong_cpg(tmp_path, empty_node):
    archive = shapefile_zip(tmp_path, new_grids(), encoding="gbk", cpg=False)
    with zipfile.ZipFile(archive, "a") as z:
        z.writestr("grids.cpg", "UTF-8")
    with pytest.raises(ImportFileError) as refused:
        import_units(archive, "grid")
    assert refused.value.code == "encoding_mismatch"
    report = import_units(archive, "grid", committed(encoding="gbk"))
    assert report.encoding == {"name": "gb18030", "source": "given"}
    assert any("overrides" in note for note in report.notes)
    assert GridUnit.objects.get(code=NEW_GRIDS[2]).name == GBK_NAMES[2]


def test_geopackage_layer_is_chosen_by_name(tmp_path, empty_node):
    path = tmp_path / "city.gpkg"
    new_grids().to_crs(4490).to_file(path, layer="grids")
    new_grids().to_file(path, layer="other")
    with pytest.raises(ImportFileError) as refused:
        import_units(path, "grid")
    assert refused.value.code == "several_layers"
    assert "grids" in refused.value.detail and "other" in refused.value.detail
    report = import_units(path, "grid", committed(layer="grids"))
    assert report.committed and report.created == 3
    assert report.crs["used"] == "EPSG:4490"


# --- reading: coordinate systems -------------------------------------------------------------

# A known WGS84 polygon, as a new network far from the others.
KNOWN = Polygon([(98.3, 39.1), (98.31, 39.1), (98.312, 39.107), (98.301, 39.108)])


def _forward(crs: str):
    """WGS84 → `crs` for each vertex: PROJ for EPSG codes, gridmap.coords for GCJ-02/BD-09."""
    if crs in ("gcj02", "bd09"):
        return lambda xy: [coords.from_wgs84(x, y, crs) for x, y in xy]
    transformer = Transformer.from_crs(4326, crs, always_xy=True)
    return lambda xy: [transformer.transform(x, y) for x, y in xy]


@pytest.mark.parametrize(
    ("crs", "file_crs"),
    [
        ("EPSG:4326", "EPSG:4326"),
        ("EPSG:4490", "EPSG:4490"),
        ("EPSG:3857", "EPSG:3857"),
        ("EPSG:4498", "EPSG:4498"),  # CGCS2000 / Gauss–Krüger zone 20 (CM 117°E)
        ("EPSG:4542", "EPSG:4542"),  # CGCS2000 / 3-degree Gauss–Krüger CM 99°E, this area's
        ("gcj02", None),
        ("bd09", None),
    ],
)
def test_each_crs_lands_back_on_the_wgs84_polygon_within_a_metre(tmp_path, db, crs, file_crs):
    ring = _forward(crs)(list(KNOWN.exterior.coords))
    frame = gpd.GeoDataFrame(
        {"code": ["620400"], "name": ["坐标测试区"]}, geometry=[Polygon(ring)], crs=file_crs
    )
    archive = shapefile_zip(tmp_path, frame, prj=file_crs is not None)
    given = None if file_crs else crs
    report = import_units(archive, "network", committed(crs=given))
    assert report.committed, report.as_dict()
    stored = to_shapely(GridUnit.objects.get(code="620400").geom)
    assert shapely.hausdorff_distance(stored, KNOWN) < METRE_DEG
    assert report.crs["used"] == (file_crs or crs)
    if crs in ("gcj02", "bd09"):
        # Not a no-op: the raw coordinates are tens of metres off.
        assert shapely.hausdorff_distance(Polygon(ring), KNOWN) > 50 * METRE_DEG


def test_given_crs_overrides_the_files_and_the_report_says_so(tmp_path, db):
    # Amap data labelled WGS84: the .prj says 4326, the coordinates are GCJ-02.
    ring = _forward("gcj02")(list(KNOWN.exterior.coords))
    frame = gpd.GeoDataFrame(
        {"code": ["620400"], "name": ["x"]}, geometry=[Polygon(ring)], crs=4326
    )
    report = import_units(geojson(tmp_path, frame), "network", committed(crs="gcj02"))
    assert report.crs["file"] == "EPSG:4326" and report.crs["used"] == "gcj02"
    assert any("overrides" in note for note in report.notes)
    stored = to_shapely(GridUnit.objects.get(code="620400").geom)
    assert shapely.hausdorff_distance(stored, KNOWN) < METRE_DEG


def test_projected_coordinates_read_as_lonlat_are_refused(tmp_path, db):
    frame = gpd.GeoDataFrame({"code": ["620400"], "name": ["x"]}, geometry=[KNOWN], crs=4326)
    archive = shapefile_zip(tmp_path, frame.to_crs(4542), prj=False)
    with pytest.raises(ImportFileError) as refused:
        import_units(archive, "network", committed(crs="EPSG:4326"))
    assert refused.value.code == "coordinates_out_of_range"
    assert not GridUnit.objects.filter(code="620400").exists()


# --- broken files: a clear error and nothing imported ----------------------------------------


def test_truncated_zip_is_refused_and_nothing_is_imported(tmp_path, empty_node):
    archive = shapefile_zip(tmp_path, new_grids())
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImportFileError) as refused:
        import_units(archive, "grid", committed())
    assert refused.value.code == "broken_zip"
    assert "损坏" in refused.value.detail and "truncated" in refused.value.detail
    assert not GridUnit.objects.filter(parent=empty_node).exists()


def test_shapefile_without_prj_needs_a_crs(tmp_path, empty_node):
    archive = shapefile_zip(tmp_path, new_grids(), prj=False)
    with pytest.raises(ImportFileError) as refused:
        import_units(archive, "grid", committed())
    assert refused.value.code == "missing_crs"
    assert refused.value.detail == (
        "缺少坐标系：文件没有 .prj，请用 --crs 指定 / no CRS: the file has no .prj; give --crs"
    )
    assert not GridUnit.objects.filter(parent=empty_node).exists()
    report = import_units(archive, "grid", committed(crs="EPSG:4326"))
    assert report.committed and GridUnit.objects.filter(parent=empty_node).count() == 3


def test_wrong_field_mapping_names_the_fields_the_file_has(tmp_path, empty_node):
    archive = shapefile_zip(tmp_path, new_grids(names=GBK_NAMES).rename(columns={"name": "MC"}))
    with pytest.raises(ImportFileError) as refused:
        import_units(archive, "grid", committed(fields={"code": "BM", "name": "MC"}))
    assert refused.value.code == "field_not_found"
    assert "'BM'" in refused.value.detail
    assert refused.value.where == {"field": "code", "fields": ["code", "MC", "parent_cod"]}
    # Without a name mapping the default "name" is not found either, and the error says which.
    with pytest.raises(ImportFileError) as refused:
        import_units(archive, "grid")
    assert "name" in refused.value.detail and "MC" in refused.value.detail
    report = import_units(archive, "grid", committed(fields={"name": "MC"}))
    assert report.committed and GridUnit.objects.filter(parent=empty_node).count() == 3


def test_zip_without_a_shapefile_and_unknown_formats_are_refused(tmp_path, db):
    archive = tmp_path / "notes.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "网格")
    with pytest.raises(ImportFileError) as refused:
        import_units(archive, "grid")
    assert refused.value.code == "no_shapefile"
    text_file = tmp_path / "units.txt"
    text_file.write_text("x")
    with pytest.raises(ImportFileError) as refused:
        import_units(text_file, "grid")
    assert refused.value.code == "unsupported_format"


def test_a_shp_beside_its_parts_is_read_and_a_missing_dbf_is_named(tmp_path, empty_node):
    shapefile_zip(tmp_path, new_grids())
    shp = tmp_path / "grids" / "grids.shp"
    report = import_units(shp, "grid", committed())
    assert report.committed and report.file["format"] == "Shapefile"
    (tmp_path / "grids" / "grids.dbf").unlink()
    with pytest.raises(ImportFileError) as refused:
        import_units(shp, "grid")
    assert refused.value.code == "incomplete_shapefile" and "grids.dbf" in refused.value.detail


def _bow_tie(i: int) -> Polygon:
    """Grid cell i with its top corners swapped: two triangles meeting in the middle."""
    x0, x1 = X2 + i * CELL, X2 + (i + 1) * CELL
    return Polygon([(x0, Y2), (x1, Y2), (x0, Y2 + CELL), (x1, Y2 + CELL), (x0, Y2)])


def test_self_intersecting_polygon_is_reported_with_its_location_and_nothing_imported(
    tmp_path, empty_node
):
    frame = new_grids()
    frame.loc[2, "geometry"] = _bow_tie(2)
    report = import_units(geojson(tmp_path, frame), "grid", committed())
    assert not report.committed
    (problem,) = report.problems
    assert (problem.feature, problem.code, problem.error) == (3, NEW_GRIDS[2], "invalid_geometry")
    assert "Self-intersection" in problem.detail and "--fix-invalid" in problem.detail
    middle = (X2 + 2.5 * CELL, Y2 + CELL / 2)
    assert problem.point == pytest.approx(middle, abs=1e-9)
    assert not GridUnit.objects.filter(parent=empty_node).exists()


def test_fix_invalid_repairs_with_make_valid_and_reports_the_area_change(tmp_path, empty_node):
    frame = new_grids()
    frame.loc[2, "geometry"] = _bow_tie(2)
    report = import_units(geojson(tmp_path, frame), "grid", committed(fix_invalid=True))
    assert report.committed, report.as_dict()
    (fix,) = report.fixed
    assert fix.feature == 3 and "Self-intersection" in fix.reason
    whole = 3 * report.items[0]["area_m2"]  # a cell's area, three times
    assert fix.area_m2_after == pytest.approx(whole / 6, rel=1e-3)  # two triangles: half a cell
    stored = to_shapely(GridUnit.objects.get(code=NEW_GRIDS[2]).geom)
    assert stored.is_valid and len(stored.geoms) == 2
    # What the repair left uncovered is a gap in the node: a warning, not an error.
    assert [(p.error, p.severity) for p in report.topology] == [("gap", "warning")] * 2


def test_invalid_codes_and_missing_parents_are_reported_per_feature(tmp_path, empty_node):
    frame = new_grids(codes=[NEW_GRIDS[0], "62030000100100", f"{NODE2}000"], parent=False)
    frame = pd_concat(frame, new_grids(codes=["620300001002001"], names=["无主网格"], parent=False))
    report = import_units(geojson(tmp_path, frame), None, committed())
    assert not report.committed
    errors = {(p.feature, p.error) for p in report.problems}
    assert errors == {(2, "invalid_code"), (3, "invalid_code"), (4, "missing_parent")}
    assert all(p.point is not None for p in report.problems)
    assert not GridUnit.objects.filter(parent=empty_node).exists()


def pd_concat(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    import pandas as pd

    return gpd.GeoDataFrame(pd.concat([a, b], ignore_index=True), crs=a.crs)


# --- dry run, commit, one transaction ----------------------------------------------------------


def test_dry_run_reports_what_would_happen_and_writes_nothing(tmp_path, empty_node):
    versions = UnitVersion.objects.count()
    report = import_units(geojson(tmp_path, new_grids()), "grid")
    assert report.ok and not report.committed
    assert report.created == 3
    assert [i["action"] for i in report.items] == ["created"] * 3
    assert all(i["id"] is None for i in report.items)
    assert not GridUnit.objects.filter(parent=empty_node).exists()
    assert UnitVersion.objects.count() == versions


def test_a_file_with_one_bad_feature_imports_nothing(tmp_path, empty_node):
    frame = new_grids()
    frame.loc[1, "code"] = "620300001001"  # a node's code among grids
    report = import_units(geojson(tmp_path, frame), "grid", committed())
    assert not report.committed and report.errors == 1
    assert report.created == 2  # what the trial wrote, rolled back
    assert not GridUnit.objects.filter(parent=empty_node).exists()


def test_a_whole_hierarchy_in_one_file_goes_in_parents_first(tmp_path, db):
    whole = box(X2, Y2, X2 + 3 * CELL, Y2 + CELL)
    units = pd_concat(
        gpd.GeoDataFrame(
            {"code": [NODE2, SEGMENT2, NETWORK2], "name": ["社区", "街道", "区"]},
            geometry=[whole] * 3,
            crs=4326,
        ),
        new_grids(parent=False),
    )
    report = import_units(geojson(tmp_path, units), None, committed())
    assert report.committed, report.as_dict()
    node = GridUnit.objects.get(code=NODE2)
    assert node.parent.code == SEGMENT2 and node.parent.parent.code == NETWORK2
    assert node.children.count() == 3


def test_reimport_changes_names_and_boundaries_bumps_versions_and_reassigns(tmp_path, world):
    building = Building.objects.create(
        road="五一北路", number="7", footprint=geos_box(98.0016, 39.0005, 98.0019, 39.0008)
    )
    households = [Household.objects.create(building=building, residents=2) for _ in range(3)]
    assert {h.grid_id for h in Household.objects.filter(pk__in=[h.pk for h in households])} == {
        world["g1"].pk
    }
    edge = 98.0015  # the G1/G2 edge moves west from 98.002
    g2 = Polygon(
        box(edge, 39.000, 98.004, 39.002).exterior, [box(*HOLE_A).exterior, box(*HOLE_B).exterior]
    )
    frame = gpd.GeoDataFrame(
        {
            "code": [G1, G2, G3],
            "name": ["第一网格（新）", "第二网格", "第三网格"],
            "parent_code": [NODE] * 3,
        },
        geometry=[
            box(98.000, 39.000, edge, 39.002),
            g2,
            to_shapely(world["g3"].geom),
        ],
        crs=4326,
    )
    path = geojson(tmp_path, frame)
    preview = import_units(path, "grid")
    assert [(i["code"], i["action"]) for i in preview.items] == [
        (G1, "changed"),
        (G2, "changed"),
        (G3, "unchanged"),
    ]
    assert preview.reassignment["household"]["pairs"] == [{"from": G1, "to": G2, "count": 3}]
    # Hole B of G2 was a gap before and still is: a warning, which does not stop the commit.
    (gap,) = preview.topology
    assert (gap.error, gap.severity, gap.code) == ("gap", "warning", NODE)
    assert shapely.Point(gap.point).within(box(*HOLE_B))
    assert GridUnit.objects.get(code=G1).version == 1  # nothing written yet

    report = import_units(path, "grid", committed())
    assert report.committed
    assert report.as_dict() | {
        "committed": None,
        "commit": None,
        "items": None,
    } == preview.as_dict() | {
        "committed": None,
        "commit": None,
        "items": None,
    }
    versions = dict(GridUnit.objects.filter(level="grid").values_list("code", "version"))
    assert versions == {G1: 2, G2: 2, G3: 1}
    assert GridUnit.objects.get(code=G1).name == "第一网格（新）"
    assert set(Household.objects.values_list("grid__code", flat=True)) == {G2}
    assert grid_geoms()[G1].equals(box(98.000, 39.000, edge, 39.002))


def test_overlap_with_an_existing_sibling_is_reported_and_refused(tmp_path, world):
    frame = gpd.GeoDataFrame(
        {"code": [G1], "name": ["第一网格"], "parent_code": [NODE]},
        geometry=[box(98.000, 39.000, 98.0025, 39.002)],  # into G2
        crs=4326,
    )
    before = grid_geoms()
    report = import_units(geojson(tmp_path, frame), "grid", committed())
    assert not report.committed
    (overlap,) = [p for p in report.topology if p.error == "overlap"]
    assert overlap.code == G1 and overlap.feature == 1 and overlap.severity == "error"
    assert G2 in overlap.detail
    assert 98.002 < overlap.point[0] < 98.0025
    assert overlap.area_m2 > 1000
    assert grid_geoms() == before


# --- layers ----------------------------------------------------------------------------------


@pytest.fixture
def buildings(world) -> dict[str, Building]:
    return {
        "1": Building.objects.create(
            road="五一北路", number="1号", footprint=geos_box(98.0005, 39.0005, 98.0012, 39.0009)
        ),
        "3": Building.objects.create(
            road="五一北路", number="3号", footprint=geos_box(98.0045, 39.0005, 98.0050, 39.0009)
        ),
    }


def test_households_from_a_csv_of_addresses_follow_their_buildings(tmp_path, buildings):
    rows = [
        {"address": "五一北路1号", "room": "101", "residents": "3", "color": "红色（一类）"},
        {"address": "五一北路１号", "room": "102", "residents": "2", "color": "green"},
        {"address": "五一北路 3", "room": "201", "residents": "1", "color": ""},
    ]
    path = write_csv(tmp_path, rows, "households.csv", encoding="gbk")
    report = import_layer("households", path, committed())
    assert report.committed, report.as_dict()
    assert report.encoding == {"name": "gb18030", "source": "detected"}
    got = sorted(Household.objects.values_list("room", "building_id", "color", "grid__code"))
    assert got == [
        ("101", buildings["1"].pk, "red", G1),
        ("102", buildings["1"].pk, "green", G1),
        ("201", buildings["3"].pk, "green", G3),
    ]
    assert report.reassignment["household"] == {"assigned": 3, "unassigned": 0}


def test_households_from_an_excel_register_with_an_unmatched_row_import_nothing(
    tmp_path, buildings
):
    import pandas as pd

    register = pd.DataFrame(
        [
            {"门牌": "五一北路1号", "room": "101", "residents": 3, "color": "红色（一类）"},
            {"门牌": "五一北路3号", "room": "201", "residents": 1, "color": "blue"},
            {"门牌": "无名路7号", "room": "301", "residents": 2, "color": "green"},
        ]
    )
    path = tmp_path / "住户登记.xlsx"
    register.to_excel(path, index=False)
    options = committed(address_field="门牌")
    report = import_layer("households", path, options)
    assert not report.committed
    assert [(p.feature, p.error) for p in report.problems] == [(3, "address_not_found")]
    assert not Household.objects.exists()
    register.iloc[:2].to_excel(path, index=False)
    report = import_layer("households", path, options)
    assert report.committed, report.as_dict()
    got = sorted(Household.objects.values_list("room", "building_id", "residents", "color"))
    assert got == [("101", buildings["1"].pk, 3, "red"), ("201", buildings["3"].pk, 1, "blue")]


def test_a_broken_excel_file_is_a_clear_error(tmp_path, world):
    path = tmp_path / "h.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(ImportFileError) as refused:
        import_layer("households", path)
    assert refused.value.code == "unreadable_file" and "h.xlsx" in refused.value.detail


def test_households_whose_address_is_not_found_are_reported_and_nothing_imported(
    tmp_path, buildings
):
    rows = [
        {"address": "五一北路1号", "room": "101"},
        {"address": "不存在路9号", "room": "102"},
    ]
    report = import_layer("households", write_csv(tmp_path, rows, "h.csv"), committed())
    assert not report.committed
    assert [(p.feature, p.error) for p in report.problems] == [(2, "address_not_found")]
    assert "不存在路9号" in report.problems[0].detail
    assert not Household.objects.exists()


def test_households_from_gcj02_coordinates_find_the_building_they_are_in(tmp_path, buildings):
    inside = coords.from_wgs84(98.0008, 39.0007, "gcj02")
    outside = coords.from_wgs84(98.0030, 39.0015, "gcj02")
    rows = [
        {"lng": inside[0], "lat": inside[1], "room": "301"},
        {"lng": outside[0], "lat": outside[1], "room": "302"},
    ]
    path = write_csv(tmp_path, rows, "h.csv")
    with pytest.raises(ImportFileError) as refused:
        import_layer("households", path)
    assert refused.value.code == "missing_crs"
    report = import_layer("households", path, ImportOptions(crs="gcj02"))
    assert [(p.feature, p.error) for p in report.problems] == [(2, "no_building")]
    assert report.problems[0].point == pytest.approx([98.0030, 39.0015], abs=1e-7)
    rows.pop()
    report = import_layer("households", write_csv(tmp_path, rows, "h2.csv"), committed(crs="gcj02"))
    assert report.committed
    household = Household.objects.get()
    assert household.building_id == buildings["1"].pk and household.location is None


def test_facilities_from_a_csv_with_coordinates_and_with_addresses(tmp_path, buildings):
    rows = [
        {
            "类别": "医疗卫生",
            "名称": "社区卫生服务站",
            "经度": "98.0031",
            "纬度": "39.0003",
            "地址": "",
        },
        {"类别": "elderly", "名称": "日间照料中心", "经度": "", "纬度": "", "地址": "五一北路3号"},
    ]
    report = import_layer("facilities", write_csv(tmp_path, rows, "f.csv"), committed(crs="wgs84"))
    assert report.committed, report.as_dict()
    clinic = Facility.objects.get(kind="medical")
    assert clinic.name == "社区卫生服务站" and clinic.grid.code == G2
    assert clinic.location.distance(Point(98.0031, 39.0003, srid=4326)) < 1e-9
    care = Facility.objects.get(kind="elderly")
    assert care.address == "五一北路3号" and care.grid.code == G3
    assert care.location.distance(buildings["3"].anchor) < 1e-9


def test_imported_facilities_get_their_service_circles_once_committed(
    tmp_path, world, django_capture_on_commit_callbacks
):
    rows = [{"kind": "文化", "name": "文化站", "lon": "98.001", "lat": "39.001"}]
    path = write_csv(tmp_path, rows, "f.csv")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        import_layer("facilities", path, ImportOptions(crs="wgs84"))
    assert callbacks == [] and not Facility.objects.exists()  # a dry run schedules nothing
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        import_layer("facilities", path, committed(crs="wgs84"))
    assert len(callbacks) == 1
    facility = Facility.objects.get()
    assert facility.kind == "culture"
    assert sorted(facility.circles.values_list("minutes", flat=True)) == [5, 10, 15]


def test_roads_a_multipart_line_becomes_one_road_per_part_and_joins_the_walk_graph(
    tmp_path, world, django_capture_on_commit_callbacks
):
    frame = gpd.GeoDataFrame(
        {"name": ["幸福路", "胜利街"], "kind": ["街道", "path"], "walkable": ["是", "0"]},
        geometry=[
            shapely.MultiLineString(
                [[(98.000, 39.001), (98.002, 39.001)], [(98.003, 39.001), (98.004, 39.001)]]
            ),
            shapely.LineString([(98.001, 39.000), (98.001, 39.002)]),
        ],
        crs=4326,
    )
    with django_capture_on_commit_callbacks(execute=True):
        report = import_layer("roads", geojson(tmp_path, frame, "roads.geojson"), committed())
    assert report.committed and report.created == 3
    assert sorted(Road.objects.values_list("name", "kind", "walkable")) == [
        ("幸福路", "street", True),
        ("幸福路", "street", True),
        ("胜利街", "path", False),
    ]
    assert walknet.has_edges()


def test_cameras_are_matched_by_code_and_changed_in_place(tmp_path, world):
    camera = Camera.objects.create(
        code="CAM-1", location=Point(98.0031, 39.0003, srid=4326), bearing=90, fov=90, range_m=50
    )
    frame = gpd.GeoDataFrame(
        {
            "code": ["CAM-1", "CAM-2"],
            "bearing": [180.0, 0.0],
            "fov": [60, 90],
            "range_m": [50, 80],
            "status": ["离线", "online"],
        },
        geometry=[shapely.Point(98.0008, 39.0015), shapely.Point(98.005, 39.001)],
        crs=4326,
    )
    report = import_layer("cameras", geojson(tmp_path, frame, "cameras.geojson"), committed())
    assert report.committed and (report.created, report.changed) == (1, 1)
    camera.refresh_from_db()
    assert (camera.bearing, camera.fov, camera.status, camera.grid.code) == (180, 60, "offline", G1)
    assert Camera.objects.get(code="CAM-2").grid.code == G3


def test_a_value_out_of_the_models_range_is_reported(tmp_path, world):
    frame = gpd.GeoDataFrame(
        {"code": ["CAM-9"], "bearing": [400.0], "fov": [90], "range_m": [50]},
        geometry=[shapely.Point(98.001, 39.001)],
        crs=4326,
    )
    report = import_layer("cameras", geojson(tmp_path, frame, "c.geojson"), committed())
    assert not report.committed
    (problem,) = report.problems
    assert problem.error == "invalid_value" and "bearing" in problem.detail
    assert not Camera.objects.exists()


def test_buildings_from_a_gbk_shapefile_with_chinese_field_names(tmp_path, world):
    frame = gpd.GeoDataFrame(
        {"名称": ["幸福家园1号楼"], "道路": ["幸福路"], "门牌号": ["12号"], "层数": [6]},
        geometry=[box(98.0030, 39.0017, 98.0033, 39.0019)],
        crs=4490,
    )
    report = import_layer("buildings", shapefile_zip(tmp_path, frame, name="楼"), committed())
    assert report.committed, report.as_dict()
    building = Building.objects.get()
    assert (building.name, building.road, building.number, building.floors) == (
        "幸福家园1号楼",
        "幸福路",
        "12号",
        6,
    )
    assert building.grid.code == G2


# --- the command --------------------------------------------------------------------------------


def test_command_is_a_dry_run_unless_commit(tmp_path, empty_node, capsys):
    archive = shapefile_zip(tmp_path, new_grids())
    call_command("import_units", str(archive), "--level", "grid")
    out = capsys.readouterr().out
    assert "dry run" in out and "朝阳里网格" in out
    call_command("import_units", str(archive), "--level", "grid", "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["created"] == 3 and report["encoding"]["source"] == "cpg"
    assert not GridUnit.objects.filter(parent=empty_node).exists()
    call_command("import_units", str(archive), "--level", "grid", "--commit")
    assert GridUnit.objects.filter(parent=empty_node).count() == 3


def test_command_exits_1_on_a_broken_file_and_on_errors(tmp_path, empty_node, capsys):
    archive = shapefile_zip(tmp_path, new_grids(), prj=False)
    with pytest.raises(CommandError) as failed:
        call_command("import_units", str(archive), "--level", "grid", "--commit")
    assert failed.value.returncode == 1 and "no .prj" in str(failed.value)
    frame = new_grids()
    frame.loc[2, "geometry"] = _bow_tie(2)
    with pytest.raises(CommandError) as failed:
        call_command("import_units", str(geojson(tmp_path, frame)), "--commit")
    assert failed.value.returncode == 1
    assert "invalid_geometry" in capsys.readouterr().out
    assert not GridUnit.objects.filter(parent=empty_node).exists()


def test_import_layer_command_maps_fields(tmp_path, buildings, capsys):
    rows = [{"门牌": "五一北路1号", "户号": "501", "人口": "4"}]
    path = write_csv(tmp_path, rows, "h.csv")
    call_command(
        "import_layer",
        "households",
        str(path),
        "--address-field",
        "门牌",
        "--field",
        "room=户号",
        "--field",
        "residents=人口",
        "--commit",
    )
    household = Household.objects.get()
    assert (household.room, household.residents, household.grid.code) == ("501", 4, G1)


# --- the API --------------------------------------------------------------------------------------


def _upload(path: Path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(path.name, path.read_bytes())


def test_planner_uploads_a_shapefile_previews_then_commits(tmp_path, empty_node, api_as):
    archive = shapefile_zip(tmp_path, new_grids())
    planner = api_as("planner")
    form = {"level": "grid", "crs": "", "encoding": ""}
    response = planner.post("/api/import/units/", {**form, "file": _upload(archive)})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["ok"] and not body["committed"]
    assert body["counts"]["created"] == 3 and body["file"]["name"] == "grids.zip"
    assert not GridUnit.objects.filter(parent=empty_node).exists()
    response = planner.post(
        "/api/import/units/", {**form, "commit": "true", "file": _upload(archive)}
    )
    assert response.status_code == 201
    assert GridUnit.objects.filter(parent=empty_node).count() == 3


def test_viewer_may_not_import(tmp_path, empty_node, api_as):
    archive = shapefile_zip(tmp_path, new_grids())
    response = api_as("viewer").post(
        "/api/import/units/", {"commit": "true", "file": _upload(archive)}
    )
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
    assert not GridUnit.objects.filter(parent=empty_node).exists()


def test_api_answers_a_broken_file_in_the_error_shape(tmp_path, empty_node, api_as):
    archive = shapefile_zip(tmp_path, new_grids(), prj=False)
    response = api_as("planner").post("/api/import/units/", {"file": _upload(archive)})
    assert response.status_code == 400
    assert response.json() == {
        "error": "missing_crs",
        "detail": "缺少坐标系：文件没有 .prj，请用 --crs 指定 / no CRS: the file has no .prj; give --crs",
        "where": "crs",
    }


def test_api_refuses_a_commit_with_errors_and_returns_the_report(tmp_path, empty_node, api_as):
    frame = new_grids()
    frame.loc[2, "geometry"] = _bow_tie(2)
    path = geojson(tmp_path, frame)
    response = api_as("planner").post(
        "/api/import/units/", {"commit": "true", "file": _upload(path)}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "import_refused"
    assert body["where"]["problems"][0]["error"] == "invalid_geometry"
    assert not GridUnit.objects.filter(parent=empty_node).exists()


def test_layer_import_needs_that_layers_permission(tmp_path, buildings, api_as):
    rows = [{"kind": "culture", "name": "文化站", "lon": "98.001", "lat": "39.001"}]
    path = write_csv(tmp_path, rows, "f.csv")
    form = {"crs": "wgs84", "commit": "true"}
    response = api_as("viewer").post("/api/import/facilities/", {**form, "file": _upload(path)})
    assert response.status_code == 403
    planner = api_as("planner")
    response = planner.post("/api/import/households/", {**form, "file": _upload(path)})
    assert response.status_code == 403  # planners add buildings and facilities, not households
    response = planner.post("/api/import/facilities/", {**form, "file": _upload(path)})
    assert response.status_code == 201, response.json()
    assert Facility.objects.get().grid.code == G1
    response = planner.post("/api/import/parks/", {**form, "file": _upload(path)})
    assert response.status_code == 404 and response.json()["error"] == "unknown_layer"


# --- the planner's page --------------------------------------------------------------------------


class PlanPage(MapPage):
    name = "plan"
    viewport = {"width": 1400, "height": 850}


session_as = map_page_fixture(PlanPage)


@pytest.mark.browser
def test_planner_previews_repairs_and_commits_an_import_on_the_map_page(
    tmp_path, empty_node, session_as
):
    frame = new_grids()
    frame.loc[2, "geometry"] = _bow_tie(2)
    path = geojson(tmp_path, frame)
    planner = session_as("planner")
    planner.open("/map/plan/")
    page = planner.page
    page.click("#plan-import summary")
    page.set_input_files("#plan-import-form input[name=file]", str(path))
    page.click("#plan-import-form button[type=submit]")
    result = page.wait_for_selector("#plan-import-result")
    assert "Self-intersection" in result.inner_text()
    assert page.locator("#plan-import-form button.commit").is_disabled()
    page.click("#plan-import-result button.show-on-map")
    page.wait_for_selector(".where-label")
    planner.screenshot("import-problem")

    page.check("#plan-import-form input[name=fix_invalid]")
    page.click("#plan-import-form button[type=submit]")
    page.wait_for_selector("#plan-import-result .import-fixed")
    assert not GridUnit.objects.filter(parent=empty_node).exists()
    planner.after("planImported", lambda: page.click("#plan-import-form button.commit"))
    page.wait_for_selector("#plan-status.ok")
    assert GridUnit.objects.filter(parent=empty_node).count() == 3
    planner.screenshot("import-done")
    planner.assert_clean()


def test_only_planners_get_the_import_form(world):
    assert "plan-import-form" in logged_in_client("planner").get("/map/plan/").content.decode()
    assert "plan-import-form" not in logged_in_client("viewer").get("/map/plan/").content.decode()
