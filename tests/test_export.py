"""Export to city platforms: streamed RFC 7946 GeoJSON and files, read back by GDAL and geopandas;
who may read what (tokens, scopes, rate limits, anonymous layers); no personal data out."""

from __future__ import annotations

import io
import json
import re
import subprocess
import zipfile
from datetime import timedelta

import geopandas as gpd
import pyogrio
import pytest
import shapely
from django.contrib.gis.geos import Point, Polygon
from django.test import Client
from django.utils import timezone

from layers.exchange import catalogue, export
from layers.models import Building, Camera, Household, Incident, LayerPublication, PlatformToken
from tests.conftest import G2, NODE

pytestmark = pytest.mark.django_db

FORMATS = ["geojson", "gpkg", "shp.zip", "csv"]

# What households and a citizen's report hold that must never leave.
SECRETS = {
    "head_name": "欧阳秘密",
    "head_phone": "13912345678",
    "room": "1203室",
    "description": "联系人诸葛暗号 13800001111",
}


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def read_back(fmt: str, data: bytes, tmp_path) -> gpd.GeoDataFrame:
    """Read an export as GDAL would, from a file."""
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(data)
    if fmt == "shp.zip":
        return pyogrio.read_dataframe(f"/vsizip/{path}")
    # A CSV's "wkt" column is taken as the geometry by GDAL, and its BOM skipped.
    return pyogrio.read_dataframe(path)


@pytest.fixture
def town(world):
    footprint = Polygon.from_bbox((98.0005, 39.0005, 98.0010, 39.0010))
    footprint.srid = 4326
    building = Building.objects.create(road="新华北路", number="47号", footprint=footprint)
    for i in range(4):
        Household.objects.create(
            building=building,
            residents=3,
            color="red",
            head_name=SECRETS["head_name"],
            head_phone=SECRETS["head_phone"],
            room=SECRETS["room"] if i == 0 else "",
        )
    Household.objects.create(
        building=building, location=Point(98.0007, 39.0007, srid=4326), residents=1
    )
    Camera.objects.create(
        code="C1", name="路口", location=Point(98.001, 39.001), bearing=90, fov=60, range_m=50
    )
    Incident.objects.create(
        category=Incident.Category.ENVIRONMENT,
        description=SECRETS["description"],
        location=Point(98.0031, 39.0011, srid=4326),
    )
    return world


@pytest.fixture
def viewer(world):
    from tests.conftest import user_with_role

    client = Client()
    client.force_login(user_with_role("viewer", "exchange-viewer"))
    return client


def geojson(client, layer: str, **query) -> dict:
    response = client.get(f"/api/export/{layer}.geojson", query)
    assert response.status_code == 200, body(response)[:300]
    assert response.streaming and response["Content-Type"] == "application/geo+json"
    return json.loads(body(response))


# --- RFC 7946 -----------------------------------------------------------------------------------


def test_units_export_is_one_rfc7946_feature_collection(town, viewer):
    collection = geojson(viewer, "units")
    assert collection["type"] == "FeatureCollection" and "crs" not in collection
    features = collection["features"]
    assert {f["properties"]["code"] for f in features} == {u.code for u in town.values()}
    assert [f["id"] for f in features] == sorted(u.pk for u in town.values())
    g2 = next(f for f in features if f["properties"]["code"] == G2)
    assert g2["id"] == town["g2"].pk
    assert g2["properties"] == {
        "code": G2,
        "name": "第二网格",
        "level": "grid",
        "parent_code": NODE,
        "version": town["g2"].version,
    }


def test_rings_follow_the_right_hand_rule_and_coordinates_have_seven_decimals(town, viewer):
    # The fixture's boxes are drawn clockwise, G2's holes too: the export must turn them.
    for feature in geojson(viewer, "units")["features"]:
        shape = shapely.geometry.shape(feature["geometry"])
        for polygon in getattr(shape, "geoms", [shape]):
            assert polygon.exterior.is_ccw
            assert all(not ring.is_ccw for ring in polygon.interiors)
        text = json.dumps(feature["geometry"])
        assert not re.search(r"\d\.\d{8,}", text)
    g2 = next(f for f in geojson(viewer, "units")["features"] if f["properties"]["code"] == G2)
    assert len(g2["geometry"]["coordinates"][0]) == 3  # the shell and both holes


def test_filters_by_level_parent_and_box(town, viewer):
    grids = geojson(viewer, "units", level="grid")["features"]
    assert {f["properties"]["level"] for f in grids} == {"grid"} and len(grids) == 3
    under_node = geojson(viewer, "units", parent=NODE)["features"]
    assert sorted(f["properties"]["code"] for f in under_node) == sorted(
        f["properties"]["code"] for f in grids
    )
    west = geojson(viewer, "units", level="grid", bbox="98.0001,39.0001,98.0009,39.0009")[
        "features"
    ]
    assert [f["properties"]["name"] for f in west] == ["第一网格"]


def test_the_export_round_trips_through_geopandas_and_gdal_reads_it(town, viewer, tmp_path):
    response = viewer.get("/api/export/units.geojson")
    data = body(response)
    frame = read_back("geojson", data, tmp_path)
    assert sorted(frame["code"]) == sorted(
        f["properties"]["code"] for f in json.loads(data)["features"]
    )
    original = town["g2"].geom
    exported = frame[frame["code"] == G2].geometry.iloc[0]
    assert exported.symmetric_difference(shapely.from_wkt(original.wkt)).area < 1e-12
    info = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-al", str(tmp_path / "export.geojson")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Feature Count: 6" in info and "code: String" in info


def test_a_large_export_is_streamed_in_chunks(world, viewer):
    Camera.objects.bulk_create(
        Camera(
            code=f"C{i:05d}",
            location=Point(98.0001 + i * 1e-6, 39.0001),
            bearing=0,
            fov=360,
            range_m=30,
        )
        for i in range(export.FETCH_ROWS + 500)
    )
    response = viewer.get("/api/export/cameras.geojson")
    chunks = list(response.streaming_content)
    assert len(chunks) >= 4  # head, two batches, tail
    assert len(json.loads(b"".join(chunks))["features"]) == export.FETCH_ROWS + 500


def test_an_empty_layer_exports_an_empty_valid_collection_and_files(world, viewer, tmp_path):
    assert geojson(viewer, "facilities")["features"] == []
    for fmt in ("gpkg", "shp.zip", "csv"):
        response = viewer.get(f"/api/export/facilities.{fmt}")
        assert response.status_code == 200
        assert len(read_back(fmt, body(response), tmp_path)) == 0


# --- files --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["gpkg", "shp.zip", "csv"])
def test_file_exports_read_back_with_the_chinese_text_intact(town, viewer, tmp_path, fmt):
    response = viewer.get(f"/api/export/units.{fmt}", {"level": "grid"})
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    frame = read_back(fmt, body(response), tmp_path)
    assert sorted(frame["name"]) == sorted(["第一网格", "第二网格", "第三网格"])
    assert frame.geometry.notna().all()


def test_a_shapefile_export_names_long_fields_within_ten_characters(town, viewer, tmp_path):
    frame = read_back("shp.zip", body(viewer.get("/api/export/units.shp.zip")), tmp_path)
    assert "parentcode" in frame.columns
    incidents = read_back("shp.zip", body(viewer.get("/api/export/incidents.shp.zip")), tmp_path)
    assert {"rep_grid", "reportedat", "deadline", "closed_at"} <= set(incidents.columns)


def test_a_shapefile_export_says_its_encoding_in_a_cpg(town, viewer):
    archive = zipfile.ZipFile(io.BytesIO(body(viewer.get("/api/export/buildings.shp.zip"))))
    names = set(archive.namelist())
    assert {
        "buildings.shp",
        "buildings.dbf",
        "buildings.shx",
        "buildings.prj",
        "buildings.cpg",
    } <= names
    assert archive.read("buildings.cpg").decode().strip().upper() in {"UTF-8", "UTF8"}


def test_csv_has_a_bom_lon_lat_for_points_and_wkt(town, viewer):
    text = body(viewer.get("/api/export/cameras.csv")).decode("utf-8")
    assert text.startswith("\ufeff")
    header, row = text.lstrip("\ufeff").splitlines()[:2]
    assert header.split(",")[-3:] == ["lon", "lat", "wkt"]
    assert row.endswith("98.001,39.001,POINT(98.001 39.001)")


# --- no personal data out -----------------------------------------------------------------------


def _scan(data: bytes, fmt: str, tmp_path) -> str:
    """Everything an export says, as text: the bytes, and what GDAL reads from them."""
    text = data.decode("utf-8", "ignore")
    if fmt != "geojson":
        text += read_back(fmt, data, tmp_path).to_json()
        if fmt == "shp.zip":
            archive = zipfile.ZipFile(io.BytesIO(data))
            text += "".join(archive.read(n).decode("utf-8", "ignore") for n in archive.namelist())
    return text


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_export_of_any_layer_carries_personal_data(town, api_as, tmp_path, fmt):
    planner = api_as("planner")  # may see households in the app; exports still never show them
    for name in catalogue.LAYERS:
        response = planner.get(f"/api/export/{name}.{fmt}")
        assert response.status_code == 200, (name, fmt)
        text = _scan(body(response), fmt, tmp_path)
        for field, secret in SECRETS.items():
            assert secret not in text, (name, fmt, field)
            assert f'"{field}"' not in text, (name, fmt, field)


def test_no_ogc_collection_carries_personal_data(town, api_as):
    planner = api_as("planner")
    for name in catalogue.LAYERS:
        for path in (f"/ogc/collections/{name}", f"/ogc/collections/{name}/items?limit=1000"):
            response = planner.get(path, HTTP_ACCEPT="application/json")
            assert response.status_code == 200, (path, response.content[:200])
            text = response.content.decode()
            for field, secret in SECRETS.items():
                assert secret not in text, (path, field)
        properties = [f["properties"] for f in response.json().get("features", [])]
        for field in SECRETS:
            assert all(field not in p for p in properties), (name, field)


def test_no_vector_tile_carries_personal_data(town, api_as):
    import mapbox_vector_tile

    from tests.test_tiles import tile_of

    planner = api_as("planner")
    x, y = tile_of(98.001, 39.001, 15)
    drawn = set()
    for name in catalogue.LAYERS:
        response = planner.get(f"/tiles/{name}/15/{x}/{y}.pbf")
        assert response.status_code in (200, 204), name
        if response.status_code == 204:
            continue
        drawn.add(name)
        decoded = mapbox_vector_tile.decode(response.content)
        text = json.dumps(decoded, ensure_ascii=False) + response.content.decode("utf-8", "ignore")
        for field, secret in SECRETS.items():
            assert secret not in text and f'"{field}"' not in text, (name, field)
    assert {"units", "buildings", "households", "incidents", "cameras"} <= drawn


def test_households_are_published_only_as_counts_per_building(town, viewer):
    (feature,) = geojson(viewer, "households")["features"]
    assert feature["properties"] == {
        "grid_code": town["g1"].code,
        "households": 5,
        "residents": 13,
        "red": 4,
        "orange": 0,
    }
    grids = {
        f["properties"]["grid_code"]: f["properties"]
        for f in geojson(viewer, "grid_households")["features"]
    }
    assert grids[town["g1"].code]["households"] == 5 and grids[G2]["households"] == 0


def test_a_small_household_group_does_not_publish_its_colours(world, viewer):
    footprint = Polygon.from_bbox((98.0005, 39.0005, 98.0010, 39.0010))
    footprint.srid = 4326
    house = Building.objects.create(road="小巷", number="1号", footprint=footprint)
    Household.objects.create(building=house, color="red")
    (feature,) = geojson(viewer, "households")["features"]
    assert feature["properties"]["red"] is None and feature["properties"]["households"] == 1


# --- who may read -------------------------------------------------------------------------------


def test_anonymous_requests_are_refused_unless_the_layer_is_published_anonymously(town):
    anonymous = Client()
    response = anonymous.get("/api/export/facilities.geojson")
    assert response.status_code == 401 and response.json()["error"] == "not_authenticated"
    LayerPublication.objects.create(layer="facilities", anonymous=True)
    assert anonymous.get("/api/export/facilities.geojson").status_code == 200
    assert anonymous.get("/api/export/units.geojson").status_code == 401


def test_a_platform_token_reads_only_its_layers_and_stops_when_revoked(town):
    token = PlatformToken.objects.create(name="城市大脑", layers=["units", "cameras"])
    platform = Client(HTTP_AUTHORIZATION=f"Bearer {token.key}")
    assert len(json.loads(body(platform.get("/api/export/units.geojson")))["features"]) == 6
    refused = platform.get("/api/export/buildings.geojson")
    assert refused.status_code == 403 and refused.json()["where"] == "token"
    assert Client().get("/api/export/cameras.csv", {"token": token.key}).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    token.revoked_at = timezone.now()
    token.save()
    assert platform.get("/api/export/units.geojson").status_code == 401


def test_a_wrong_token_is_refused_even_on_an_anonymous_layer(town):
    LayerPublication.objects.create(layer="facilities", anonymous=True)
    response = Client(HTTP_AUTHORIZATION="Bearer not-a-token").get("/api/export/facilities.geojson")
    assert response.status_code == 401 and response.json()["error"] == "authentication_failed"


def test_a_token_over_its_rate_gets_429_with_retry_after(town):
    token = PlatformToken.objects.create(name="数字城管", layers=["units"], requests_per_minute=2)
    platform = Client(HTTP_AUTHORIZATION=f"Bearer {token.key}")
    statuses = [platform.get("/api/export/units.geojson").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = platform.get("/api/export/units.geojson")
    assert limited.json()["error"] == "rate_limited" and 0 < int(limited["Retry-After"]) <= 60


def test_a_user_needs_the_layers_view_permission(town):
    from tests.conftest import user_with_role

    client = Client()
    client.force_login(user_with_role(None, "no-role"))
    assert client.get("/api/export/units.geojson").status_code == 403


def test_bad_requests_say_what_is_wrong(town, viewer):
    assert viewer.get("/api/export/people.geojson").json()["where"] == "layer"
    assert viewer.get("/api/export/units.geojson", {"bbox": "98,39"}).json()["where"] == "bbox"
    assert viewer.get("/api/export/units.geojson", {"level": "street"}).json()["where"] == "level"
    assert viewer.get("/api/export/cameras.geojson", {"level": "grid"}).json()["where"] == "level"
    assert viewer.get("/api/export/units.kml").status_code == 404


def test_token_last_use_is_written_at_most_once_a_minute(town):
    token = PlatformToken.objects.create(name="一网统管", layers=["units"])
    recent = timezone.now() - timedelta(seconds=10)
    PlatformToken.objects.filter(pk=token.pk).update(last_used_at=recent)
    Client(HTTP_AUTHORIZATION=f"Bearer {token.key}").get("/api/export/units.csv")
    token.refresh_from_db()
    assert token.last_used_at == recent
