"""Vector tiles /tiles/{layer}/{z}/{x}/{y}.pbf and TileJSON /tiles/{layer}.json: the features and
properties a tile holds (decoded with mapbox-vector-tile), empty tiles, no personal data, who may
read them, caching, and the errors of a bad address."""

from __future__ import annotations

import datetime as dt
import json
import math

import mapbox_vector_tile
import pytest
import shapely
from django.contrib.gis.geos import Point
from django.test import Client

from gridmap.geometry import to_shapely
from layers.exchange import tiles
from layers.exchange.catalogue import LAYERS
from layers.models import (
    Building,
    Camera,
    Household,
    Incident,
    LayerPublication,
    PlatformToken,
)
from tests.conftest import G1, G2, NODE, box, user_with_role

MVT = "application/vnd.mapbox-vector-tile"
# The world's middle; at z 14 and 15 one tile holds all of it.
CENTRE = (98.003, 39.001)
# Personal values of the households: none of them may appear in any tile.
SECRETS = ("张秘密", "13912345678", "R-9917", "李隐私", "13787654321", "R-4242")


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The XYZ tile (x, y) holding a WGS84 point: the slippy-map formula."""
    n = 2**z
    x = math.floor((lon + 180) / 360 * n)
    y = math.floor((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def to_wgs84(z: int, x: int, y: int):
    """A mapbox-vector-tile transformer: tile coordinates (y down) of z/x/y → lon, lat."""
    n = 2**z

    def transform(px: float, py: float) -> tuple[float, float]:
        lon = (x + px / tiles.EXTENT) / n * 360 - 180
        t = (y + py / tiles.EXTENT) / n
        return lon, math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * t))))

    return transform


def path(layer: str, z: int, lon: float = CENTRE[0], lat: float = CENTRE[1]) -> str:
    x, y = tile_of(lon, lat, z)
    return f"/tiles/{layer}/{z}/{x}/{y}.pbf"


def decode(response, z: int, lon: float = CENTRE[0], lat: float = CENTRE[1]) -> dict:
    """The tile's layers, their geometries in WGS84."""
    assert response.status_code == 200
    assert response["Content-Type"] == MVT
    options = {"y_coord_down": True, "transformer": to_wgs84(z, *tile_of(lon, lat, z))}
    return mapbox_vector_tile.decode(response.content, default_options=options)


def features_by_id(layers: dict, name: str) -> dict[int, dict]:
    assert list(layers) == [name]  # one MVT layer, named like the published layer
    return {f["id"]: f for f in layers[name]["features"]}


def client_as(role: str | None) -> Client:
    client = Client()
    client.force_login(user_with_role(role, f"{role}-tiles"))
    return client


@pytest.fixture
def tile_world(world):
    """The conftest world with a building of 12 households in G1 (one red) and one of 2 in G2,
    one of which has a point of its own; every household has a name, phone and room."""
    big = Building.objects.create(
        name="1号楼",
        road="五一北路",
        number="1",
        floors=6,
        footprint=box(98.0005, 39.0005, 98.0012, 39.0009),
    )
    small = Building.objects.create(
        road="五一北路",
        number="3",
        kind="commercial",
        floors=2,
        footprint=box(98.0032, 39.0003, 98.0036, 39.0006),
    )
    for i in range(12):
        Household.objects.create(
            building=big,
            room=SECRETS[2],
            head_name=SECRETS[0],
            head_phone=SECRETS[1],
            residents=2,
            color="red" if i == 0 else "green",
        )
    Household.objects.create(
        building=small,
        room=SECRETS[5],
        head_name=SECRETS[3],
        head_phone=SECRETS[4],
        residents=3,
        color="red",
    )
    Household.objects.create(
        building=small,
        room=SECRETS[5],
        head_name=SECRETS[3],
        head_phone=SECRETS[4],
        residents=1,
        location=Point(98.0039, 39.0017, srid=4326),
    )
    return {**world, "big": big, "small": small}


@pytest.fixture
def planner():
    return client_as("planner")


# --- what a tile holds ---------------------------------------------------------------------------


@pytest.mark.parametrize("z", [14, 15])
def test_units_tile_holds_every_unit_with_its_outline_and_public_properties(tile_world, planner, z):
    units = features_by_id(decode(planner.get(path("units", z)), z), "units")
    assert set(units) == {u.id for u in tile_world.values() if hasattr(u, "level")}
    g2 = units[tile_world["g2"].id]
    assert g2["properties"] == {
        "code": G2,
        "name": "第二网格",
        "level": "grid",
        "parent_code": NODE,
        "version": 1,
    }
    # To within a tile unit (z 15: ~0.3 m), holes included.
    drawn = shapely.geometry.shape(g2["geometry"])
    assert shapely.hausdorff_distance(drawn, to_shapely(tile_world["g2"].geom)) < 2e-5
    network = units[tile_world["network"].id]["properties"]
    assert "parent_code" not in network  # a null is left out, not written as a value
    assert set(LAYERS["units"].property_names) == set(g2["properties"])


def test_buildings_tile_holds_the_footprints_with_address_kind_floors_and_grid(tile_world, planner):
    buildings = features_by_id(decode(planner.get(path("buildings", 15)), 15), "buildings")
    big, small = tile_world["big"], tile_world["small"]
    assert set(buildings) == {big.id, small.id}
    assert buildings[big.id]["properties"] == {
        "grid_code": G1,
        "name": "1号楼",
        "road": "五一北路",
        "number": "1",
        "kind": "residential",
        "floors": 6,
    }
    assert buildings[small.id]["properties"]["kind"] == "commercial"
    assert "name" not in buildings[small.id]["properties"]  # no name: NULLIF(name, '')
    drawn = shapely.geometry.shape(buildings[big.id]["geometry"])
    assert shapely.hausdorff_distance(drawn, to_shapely(big.footprint)) < 2e-5


def test_households_tile_has_counts_per_building_and_no_personal_data(tile_world, planner):
    response = planner.get(path("households", 15))
    households = features_by_id(decode(response, 15), "households")
    big, small = tile_world["big"], tile_world["small"]
    assert set(households) == {big.id, small.id}
    assert households[big.id]["properties"] == {
        "grid_code": G1,
        "households": 12,
        "residents": 24,
        "red": 1,
        "orange": 0,
    }
    # Two households: too few for their colours; the one with a point of its own counts here.
    assert households[small.id]["properties"] == {
        "grid_code": G2,
        "households": 2,
        "residents": 4,
    }
    # Each count sits at its building's anchor, never at a household's own point.
    for building in (big, small):
        point = shapely.geometry.shape(households[building.id]["geometry"])
        assert point.distance(to_shapely(building.anchor)) < 2e-5
    keys = {k for f in households.values() for k in f["properties"]}
    assert keys <= set(LAYERS["households"].property_names)
    assert not keys & {"head_name", "head_phone", "room", "location", "color"}
    for secret in SECRETS:
        assert secret.encode() not in response.content


def test_incident_tile_has_iso_dates_and_no_description(tile_world, planner):
    reported = dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC)
    incident = Incident.objects.create(
        category="noise",
        description=f"{SECRETS[0]} {SECRETS[1]} 楼上吵",
        location=Point(98.0015, 39.0015, srid=4326),
        reported_at=reported,
    )
    response = planner.get(path("incidents", 15))
    incidents = features_by_id(decode(response, 15), "incidents")
    p = incidents[incident.id]["properties"]
    assert p["category"] == "noise"
    assert p["grid_code"] == G1
    assert dt.datetime.fromisoformat(p["reported_at"]) == reported  # ISO 8601, as in the GeoJSON
    assert "description" not in p
    for secret in SECRETS[:2]:
        assert secret.encode() not in response.content


def test_camera_tile_has_its_numbers_as_numbers(tile_world, planner):
    camera = Camera.objects.create(
        code="CAM-9", location=Point(98.0031, 39.0003, srid=4326), bearing=90, fov=60, range_m=50
    )
    cameras = features_by_id(decode(planner.get(path("cameras", 15)), 15), "cameras")
    p = cameras[camera.id]["properties"]
    assert (p["bearing"], p["fov"], p["range_m"]) == (90.0, 60.0, 50.0)
    assert set(p) <= set(LAYERS["cameras"].property_names)


def test_parent_filter_keeps_the_rows_under_that_unit(tile_world, planner):
    grids = features_by_id(decode(planner.get(path("units", 15) + f"?parent={NODE}"), 15), "units")
    assert {f["properties"]["code"] for f in grids.values()} == {G1, G2, f"{NODE}003"}
    in_g1 = planner.get(path("buildings", 15) + f"?parent={G1}")
    assert set(features_by_id(decode(in_g1, 15), "buildings")) == {tile_world["big"].id}


def test_a_tile_away_from_the_data_is_empty(tile_world, planner):
    response = planner.get(path("buildings", 15, lon=0.5, lat=0.5))
    assert response.status_code == 204
    assert response.content == b""
    assert response["Content-Type"] == MVT


def test_below_the_layers_min_zoom_the_tile_is_empty(tile_world, planner):
    assert LAYERS["buildings"].min_zoom == 13
    assert planner.get(path("buildings", 12)).status_code == 204
    assert planner.get(path("households", 12)).status_code == 204
    assert planner.get(path("buildings", 13)).status_code == 200
    assert planner.get(path("units", 12)).status_code == 200  # units have no min zoom


def test_an_edge_tile_with_its_margin_does_not_wrap_round_the_world():
    west, south, east, north = tiles.wgs84_bounds(tiles.TileAddress(1, 0, 0), 64 / 4096)
    assert west == -180.0
    assert east == pytest.approx(2.8125)
    assert north == pytest.approx(tiles.WORLD[3])
    assert south == pytest.approx(-2.8113712)


# --- who may read, caching -----------------------------------------------------------------------


def test_anonymous_caller_is_asked_to_log_in_or_send_a_token(tile_world):
    response = Client().get(path("buildings", 15))
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert Client().get("/tiles/buildings.json").status_code == 401


def test_a_user_without_the_layers_permission_is_refused(tile_world):
    response = client_as(None).get(path("buildings", 15))
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"


def test_a_token_reads_the_layers_of_its_scope_only(tile_world):
    token = PlatformToken.objects.create(name="城市大脑", layers=["buildings"])
    assert Client().get(path("buildings", 15) + f"?token={token.key}").status_code == 200
    bearer = Client(headers={"Authorization": f"Bearer {token.key}"})
    assert bearer.get(path("buildings", 15)).status_code == 200
    refused = Client().get(path("households", 15) + f"?token={token.key}")
    assert refused.status_code == 403
    assert Client().get(path("buildings", 15) + "?token=wrong").status_code == 401


def test_tiles_of_a_user_or_token_are_cached_privately_anonymous_ones_publicly(tile_world, planner):
    response = planner.get(path("buildings", 15))
    assert response["Cache-Control"] == f"private, max-age={tiles.MAX_AGE}"
    assert {"Authorization", "Cookie"} <= {v.strip() for v in response["Vary"].split(",")}
    LayerPublication.objects.create(layer="buildings", anonymous=True)
    anonymous = Client().get(path("buildings", 15))
    assert anonymous.status_code == 200
    assert anonymous["Cache-Control"] == f"public, max-age={tiles.MAX_AGE}"


def test_an_unchanged_tile_is_answered_with_304(tile_world, planner):
    first = planner.get(path("buildings", 15))
    etag = first["ETag"]
    again = planner.get(path("buildings", 15), headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    Building.objects.filter(pk=tile_world["big"].pk).update(floors=7)
    changed = planner.get(path("buildings", 15), headers={"If-None-Match": etag})
    assert changed.status_code == 200


# --- TileJSON --------------------------------------------------------------------------------------


def test_tilejson_describes_the_layer_for_map_clients(tile_world, planner):
    response = planner.get("/tiles/buildings.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["name"] == "buildings"
    assert doc["tiles"] == ["http://testserver/tiles/buildings/{z}/{x}/{y}.pbf"]
    assert (doc["minzoom"], doc["maxzoom"]) == (13, 22)
    assert doc["bounds"] == pytest.approx([98.0005, 39.0003, 98.0036, 39.0009])
    assert doc["vector_layers"] == [
        {
            "id": "buildings",
            "description": "建筑",
            "fields": {
                "grid_code": "string",
                "name": "string",
                "road": "string",
                "number": "string",
                "kind": "string",
                "floors": "integer",
            },
            "minzoom": 13,
            "maxzoom": 22,
        }
    ]
    assert response["Cache-Control"] == f"private, max-age={tiles.MAX_AGE}"


def test_tilejson_carries_a_query_token_and_the_filters_into_the_tile_url(tile_world):
    token = PlatformToken.objects.create(name="数字城管", layers=["units"])
    doc = Client().get(f"/tiles/units.json?token={token.key}&parent={NODE}").json()
    template = doc["tiles"][0]
    assert template == (
        f"http://testserver/tiles/units/{{z}}/{{x}}/{{y}}.pbf?parent={NODE}&token={token.key}"
    )
    assert doc["minzoom"] == 0
    x, y = tile_of(*CENTRE, 15)
    url = template.replace("{z}", "15").replace("{x}", str(x)).replace("{y}", str(y))
    grids = features_by_id(decode(Client().get(url.removeprefix("http://testserver")), 15), "units")
    assert len(grids) == 3
    bearer = Client(headers={"Authorization": f"Bearer {token.key}"})
    assert "token=" not in bearer.get("/tiles/units.json").json()["tiles"][0]


def test_tilejson_of_an_empty_layer_has_the_world_as_bounds(world, planner):
    doc = planner.get("/tiles/households.json").json()
    assert doc["bounds"] == list(tiles.WORLD)
    assert doc["vector_layers"][0]["fields"] == {
        p.name: p.type for p in LAYERS["households"].properties
    }


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "where"),
    [
        ("23/0/0", "z"),
        ("15/32768/0", "x"),
        ("15/0/32768", "y"),
        ("0/1/0", "x"),
        ("15/-1/3", "x"),
        ("z/0/0", "z"),
        ("15/1.5/0", "x"),
    ],
)
def test_a_bad_tile_address_is_a_400_that_says_which_part(tile_world, planner, address, where):
    response = planner.get(f"/tiles/buildings/{address}.pbf")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_tile"
    assert body["where"] == where
    assert " / " in body["detail"]  # Chinese and English


def test_an_unknown_layer_or_path_is_a_404_in_the_error_shape(tile_world, planner):
    unknown = planner.get("/tiles/households_raw/15/0/0.pbf")
    assert unknown.status_code == 404
    assert unknown.json()["where"] == "layer"
    other = planner.get("/tiles/buildings/15/0.pbf")
    assert other.status_code == 404
    assert json.loads(other.content)["error"] == "not_found"


def test_a_bad_parent_filter_is_a_400(tile_world, planner):
    response = planner.get(path("roads", 15) + f"?parent={NODE}")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_parent"
