"""Map layers inside a box (buildings, cameras, aggregated households) and the unit load."""

from __future__ import annotations

import math

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from gridmap.assignment import assign_all
from gridmap.models import GridUnit
from gridmap.roles import ROLES
from gridmap.staffing import workload_flag
from layers.models import Building, Camera, Household
from layers.services import maplayers
from tests.conftest import G1, G2, G3, box

pytestmark = pytest.mark.django_db

WORLD_BBOX = "97.999,38.999,98.007,39.003"
LAYERS = ("/api/layers/buildings/", "/api/layers/cameras/", "/api/layers/households/")


def building(xmin: float, ymin: float, road: str = "新华北路", number: str = "47号", **kw):
    """A building of about 17 m × 11 m with its south-west corner at (xmin, ymin)."""
    return Building.objects.create(
        footprint=box(xmin, ymin, xmin + 0.0002, ymin + 0.0001), road=road, number=number, **kw
    )


def add_households(b: Building, n: int, **fields) -> None:
    Household.objects.bulk_create(Household(building=b, **fields) for _ in range(n))


def features_by(body: dict, key: str) -> dict:
    return {f["properties"][key]: f for f in body["features"]}


# --- bbox ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", LAYERS)
def test_a_layer_without_bbox_gets_400_missing_parameter(world, viewer_api, url):
    response = viewer_api.get(url)
    assert response.status_code == 400
    assert response.json() == {
        "error": "missing_parameter",
        "detail": "缺少参数 bbox / missing parameter bbox",
        "where": "bbox",
    }


@pytest.mark.parametrize("url", LAYERS)
@pytest.mark.parametrize(
    "bbox",
    [
        "98,39,98.1",
        "98,39,x,39.1",
        "98.1,39,98,39.1",  # minlon > maxlon: refused, not swapped
        "98,39.1,98.1,39",
        "98,39,98,39.1",  # empty
        "-181,39,98,39.1",
        "98,-91,98.1,39",
        "nan,39,98.1,39.1",
    ],
)
def test_a_malformed_or_reversed_bbox_gets_400_invalid_bbox(world, viewer_api, url, bbox):
    response = viewer_api.get(url, {"bbox": bbox})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_bbox"
    assert body["where"] == "bbox"
    assert " / " in body["detail"]


# --- buildings ----------------------------------------------------------------------------------


def test_buildings_layer_gives_footprints_with_address_grid_and_household_count(world, viewer_api):
    inside = building(98.0005, 39.0005, floors=6, kind="residential")
    add_households(inside, 3)
    building(98.0045, 39.0005, road="五一北路", number="12号", kind="commercial")

    response = viewer_api.get("/api/layers/buildings/", {"bbox": "98.000,39.000,98.001,39.001"})

    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["truncated"] is False
    [feature] = body["features"]
    assert feature["type"] == "Feature"
    assert feature["id"] == inside.id
    assert feature["geometry"]["type"] == "Polygon"
    assert feature["geometry"]["coordinates"][0][0] == [98.0005, 39.0005]
    assert feature["properties"] == {
        "id": inside.id,
        "name": None,
        "address": "新华北路47号",
        "road": "新华北路",
        "number": "47号",
        "kind": "residential",
        "floors": 6,
        "grid_code": G1,
        "households": 3,
    }


def test_a_building_that_only_touches_the_box_with_its_edge_is_included(world, viewer_api):
    b = building(98.0005, 39.0005)
    body = viewer_api.get(
        "/api/layers/buildings/", {"bbox": "98.0007,39.0006,98.001,39.001"}
    ).json()
    assert [f["id"] for f in body["features"]] == [b.id]


def test_a_box_without_buildings_gives_an_empty_collection(world, viewer_api):
    building(98.0005, 39.0005)
    body = viewer_api.get("/api/layers/buildings/", {"bbox": "100,30,100.1,30.1"}).json()
    assert body == {"type": "FeatureCollection", "truncated": False, "features": []}


def test_a_layer_with_more_features_than_the_cap_sends_the_cap_and_says_truncated(
    world, viewer_api, monkeypatch
):
    monkeypatch.setattr(maplayers, "MAX_FEATURES", 2)
    made = [building(98.0005 + i * 0.0003, 39.0005, number=f"{i}号") for i in range(3)]

    body = viewer_api.get("/api/layers/buildings/", {"bbox": WORLD_BBOX}).json()
    assert body["truncated"] is True
    assert [f["id"] for f in body["features"]] == [made[0].id, made[1].id]

    Building.objects.filter(pk=made[2].pk).delete()
    body = viewer_api.get("/api/layers/buildings/", {"bbox": WORLD_BBOX}).json()
    assert body["truncated"] is False
    assert len(body["features"]) == 2


def test_the_household_layer_is_capped_too(world, viewer_api, monkeypatch):
    monkeypatch.setattr(maplayers, "MAX_FEATURES", 2)
    body = viewer_api.get("/api/layers/households/", {"bbox": WORLD_BBOX}).json()
    assert body["truncated"] is True
    assert [f["properties"]["grid_code"] for f in body["features"]] == [G1, G2]


@pytest.mark.parametrize(
    "url",
    [
        "/api/layers/buildings/",
        "/api/layers/cameras/",
        "/api/layers/households/?group=grid",
        "/api/layers/households/?group=building",
    ],
)
def test_a_layer_is_built_by_one_sql_statement(world, viewer_api, url):
    add_households(building(98.0005, 39.0005), 2)
    with CaptureQueriesContext(connection) as queries:
        response = viewer_api.get(url, {"bbox": WORLD_BBOX})
    assert response.status_code == 200
    tables = [m._meta.db_table for m in (Building, Camera, Household, GridUnit)]
    layer_queries = [q for q in queries.captured_queries if any(t in q["sql"] for t in tables)]
    assert len(layer_queries) == 1
    assert "FeatureCollection" in layer_queries[0]["sql"]


# --- cameras ------------------------------------------------------------------------------------


def test_cameras_layer_gives_points_with_view_sector_status_and_grid(world, viewer_api):
    named = Camera.objects.create(
        code="620200LM0001",
        name="新华北路与嘉兴东路路口",
        location=Point(98.0045, 39.0005, srid=4326),
        bearing=90,
        fov=100,
        range_m=110,
        status="fault",
    )
    unnamed = Camera.objects.create(
        code="620200LM0002", location=Point(98.0005, 39.0005), bearing=0, fov=60, range_m=50
    )
    Camera.objects.create(
        code="620200LM0003", location=Point(98.1, 39.1), bearing=0, fov=60, range_m=50
    )

    body = viewer_api.get("/api/layers/cameras/", {"bbox": WORLD_BBOX}).json()

    assert [f["id"] for f in body["features"]] == [named.id, unnamed.id]
    first = body["features"][0]
    assert first["geometry"] == {"type": "Point", "coordinates": [98.0045, 39.0005]}
    assert first["properties"] == {
        "id": named.id,
        "code": "620200LM0001",
        "name": "新华北路与嘉兴东路路口",
        "bearing": 90.0,
        "fov": 100.0,
        "range_m": 110.0,
        "status": "fault",
        "grid_code": G3,
    }
    assert body["features"][1]["properties"]["name"] is None
    assert body["features"][1]["properties"]["grid_code"] == G1


# --- households ---------------------------------------------------------------------------------

HEAD_NAME, HEAD_PHONE, ROOM = "欧阳秘密", "13912345678", "R9137"


def test_households_by_grid_gives_one_point_per_grid_with_counts_by_color(world, viewer_api):
    west = building(98.0005, 39.0005)
    east = building(98.0045, 39.0005)
    add_households(west, 4, residents=2, color="red")
    add_households(west, 1, residents=3, color="green")
    add_households(east, 2, residents=1, color="yellow")
    assign_all()

    response = viewer_api.get("/api/layers/households/", {"bbox": WORLD_BBOX})

    assert response.status_code == 200
    grids = features_by(response.json(), "grid_code")
    assert list(grids) == [G1, G2, G3]
    g1 = grids[G1]
    assert g1["geometry"]["type"] == "Point"
    assert world["g1"].geom.covers(Point(*g1["geometry"]["coordinates"], srid=4326))
    assert g1["properties"] == {
        "group": "grid",
        "grid_id": world["g1"].id,
        "grid_code": G1,
        "grid_name": "第一网格",
        "households": 5,
        "residents": 11,
        "colors": {"red": 4, "orange": 0, "yellow": 0, "blue": 0, "green": 1},
    }
    assert grids[G2]["properties"]["households"] == 0
    assert grids[G2]["properties"]["residents"] == 0
    # Two households are too few to show their colours: it would tell who needs attention.
    assert grids[G3]["properties"]["households"] == 2
    assert grids[G3]["properties"]["colors"] is None


def test_households_group_defaults_to_grid(world, viewer_api):
    body = viewer_api.get("/api/layers/households/", {"bbox": WORLD_BBOX}).json()
    assert {f["properties"]["group"] for f in body["features"]} == {"grid"}


def test_households_by_building_gives_one_point_per_building_at_its_anchor(world, viewer_api):
    west = building(98.0005, 39.0005)
    east = building(98.0045, 39.0005)
    building(98.0015, 39.0015)  # no households: no point
    add_households(west, 3, residents=2, color="blue")
    add_households(east, 2, residents=4, color="orange")

    body = viewer_api.get(
        "/api/layers/households/", {"bbox": WORLD_BBOX, "group": "building"}
    ).json()

    by_building = features_by(body, "building_id")
    assert list(by_building) == [west.id, east.id]
    west.refresh_from_db()
    assert by_building[west.id]["geometry"]["coordinates"] == pytest.approx(
        [west.anchor.x, west.anchor.y], abs=1e-7
    )
    assert by_building[west.id]["properties"] == {
        "group": "building",
        "building_id": west.id,
        "households": 3,
        "residents": 6,
        "colors": {"red": 0, "orange": 0, "yellow": 0, "blue": 3, "green": 0},
    }
    assert by_building[east.id]["properties"]["households"] == 2
    assert by_building[east.id]["properties"]["colors"] is None  # too few to show


def mercator(x: float, y: float) -> Point:
    return Point(x, y, srid=3857).transform(4326, clone=True)


def test_households_with_a_location_of_their_own_are_counted_in_10_m_cells(world, viewer_api):
    b = building(98.0005, 39.0005)
    add_households(b, 2)  # at the building
    # A lattice point of the 10 m Web Mercator cells, two households within a few metres of it
    # and one 100 m east of it.
    origin = Point(98.001, 39.001, srid=4326).transform(3857, clone=True)
    x0, y0 = round(origin.x / 10) * 10, round(origin.y / 10) * 10
    own = [mercator(x0 + 1, y0 + 1), mercator(x0 - 2, y0 + 1.5), mercator(x0 + 100, y0)]
    for location in own:
        Household.objects.create(building=b, location=location, residents=2, color="red")

    body = viewer_api.get(
        "/api/layers/households/", {"bbox": WORLD_BBOX, "group": "building"}
    ).json()

    assert [f["properties"]["group"] for f in body["features"]] == [
        "building",
        "location",
        "location",
    ]
    at_building, *cells = body["features"]
    assert at_building["properties"]["households"] == 2
    # Each cell is shown at its lattice point, never at a household's own point.
    shown = {tuple(c["geometry"]["coordinates"]): c["properties"] for c in cells}
    expected = {
        mercator(x0, y0).coords: {"households": 2, "residents": 4},
        mercator(x0 + 100, y0).coords: {"households": 1, "residents": 2},
    }
    assert len(shown) == 2
    for coords, counts in expected.items():
        [properties] = [p for c, p in shown.items() if c == pytest.approx(coords, abs=2e-7)]
        assert properties["building_id"] is None
        assert properties["households"] == counts["households"]
        assert properties["residents"] == counts["residents"]
        assert properties["colors"] is None  # fewer than 3 households
    assert not {p.coords for p in own} & set(shown)


def test_households_layer_never_contains_personal_fields(world, viewer_api, api_as):
    b = building(98.0005, 39.0005)
    Household.objects.create(building=b, head_name=HEAD_NAME, head_phone=HEAD_PHONE, room=ROOM)
    Household.objects.create(
        building=b,
        location=Point(98.0012, 39.0012, srid=4326),
        head_name=HEAD_NAME,
        head_phone=HEAD_PHONE,
        room=ROOM,
    )
    for client in (viewer_api, api_as("planner")):
        for group in ("grid", "building"):
            response = client.get("/api/layers/households/", {"bbox": WORLD_BBOX, "group": group})
            assert response.status_code == 200
            text = response.content.decode()
            assert sum(f["properties"]["households"] for f in response.json()["features"]) == 2
            for private in (HEAD_NAME, HEAD_PHONE, ROOM, *Household.PRIVATE_FIELDS):
                assert private not in text


def test_households_layer_never_gives_a_household_its_own_feature(world, viewer_api):
    b = building(98.0005, 39.0005)
    add_households(b, 5)
    assign_all()
    for group in ("grid", "building"):
        body = viewer_api.get(
            "/api/layers/households/", {"bbox": WORLD_BBOX, "group": group}
        ).json()
        ids = {h.id for h in Household.objects.all()}
        for feature in body["features"]:
            assert feature.get("id") not in ids
            assert set(feature["properties"]) <= {
                "group",
                "grid_id",
                "grid_code",
                "grid_name",
                "building_id",
                "households",
                "residents",
                "colors",
            }


def test_households_layer_with_an_unknown_group_gets_400(world, viewer_api):
    response = viewer_api.get("/api/layers/households/", {"bbox": WORLD_BBOX, "group": "room"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_group"
    assert response.json()["where"] == "group"


def test_a_viewer_who_may_not_see_households_still_sees_the_aggregates(world, viewer_api):
    from django.contrib.auth.models import Group

    assert (
        not Group.objects.get(name="viewer").permissions.filter(codename="view_household").exists()
    )
    assert viewer_api.get("/api/layers/households/", {"bbox": WORLD_BBOX}).status_code == 200


# --- load ---------------------------------------------------------------------------------------


def test_load_of_the_grids_of_a_node_compares_households_with_the_effective_target(
    world, viewer_api
):
    GridUnit.objects.filter(pk=world["node"].pk).update(target_households=10)
    GridUnit.objects.filter(pk=world["g3"].pk).update(target_households=2)
    add_households(building(98.0005, 39.0005), 10, residents=2)  # G1: 10 of 10
    add_households(building(98.0045, 39.0005), 3)  # G3: 3 of 2
    assign_all()

    response = viewer_api.get("/api/layers/load/", {"level": "grid", "parent": world["node"].id})

    assert response.status_code == 200
    body = response.json()
    assert body["level"] == "grid"
    assert body["tolerance"] == 0.15
    assert body["units"] == [
        {
            "id": world["g1"].id,
            "code": G1,
            "name": "第一网格",
            "level": "grid",
            "households": 10,
            "residents": 20,
            "grids": 1,
            "target": 10,
            "ratio": 1.0,
            "flag": "ok",
        },
        {
            "id": world["g2"].id,
            "code": G2,
            "name": "第二网格",
            "level": "grid",
            "households": 0,
            "residents": 0,
            "grids": 1,
            "target": 10,
            "ratio": 0.0,
            "flag": "under",
        },
        {
            "id": world["g3"].id,
            "code": G3,
            "name": "第三网格",
            "level": "grid",
            "households": 3,
            "residents": 3,
            "grids": 1,
            "target": 2,
            "ratio": 1.5,
            "flag": "over",
        },
    ]


@pytest.mark.parametrize(
    "targets",
    [
        {},
        {"network": 40},
        {"segment": 30, "network": 40},
        {"node": 20, "segment": 30},
        {"g2": 5, "node": 20},
        {"g1": 7, "g2": 0, "segment": 30},  # 0 counts as unset, as in effective_target
    ],
)
def test_load_target_of_each_grid_is_its_effective_target(world, viewer_api, targets):
    for key, target in targets.items():
        GridUnit.objects.filter(pk=world[key].pk).update(target_households=target)
    units = viewer_api.get("/api/layers/load/", {"parent": world["network"].id}).json()["units"]
    for row in units:
        grid = GridUnit.objects.select_related("parent__parent__parent").get(pk=row["id"])
        assert row["target"] == grid.effective_target


def test_load_rolls_grids_up_to_their_node_and_segment(world, viewer_api, settings):
    settings.GRIDMAP_TARGET_HOUSEHOLDS = 4
    GridUnit.objects.filter(pk=world["g3"].pk).update(target_households=6)
    add_households(building(98.0005, 39.0005), 9, residents=2)
    add_households(building(98.0045, 39.0005), 3, residents=1)
    assign_all()

    for level, parent in (("node", "segment"), ("segment", "network")):
        body = viewer_api.get(
            "/api/layers/load/", {"level": level, "parent": world[parent].id}
        ).json()
        [row] = body["units"]
        assert row["code"] == world[level].code
        assert row["level"] == level
        assert row["households"] == 12
        assert row["residents"] == 21
        assert row["grids"] == 3
        assert row["target"] == 4 + 4 + 6  # the target of each grid, summed
        assert row["ratio"] == round(12 / 14, 3)
        assert row["flag"] == workload_flag(12, 14)


def test_households_in_no_grid_are_in_no_load(world, viewer_api):
    add_households(building(98.0035, 39.0013), 4)  # inside hole B, a coverage gap
    assign_all()
    body = viewer_api.get("/api/layers/load/", {"level": "node", "bbox": WORLD_BBOX}).json()
    assert body["units"][0]["households"] == 0


def test_load_by_bbox_gives_the_units_intersecting_it(world, viewer_api):
    body = viewer_api.get(
        "/api/layers/load/", {"level": "grid", "bbox": "98.0045,39.0001,98.0055,39.0009"}
    ).json()
    assert [u["code"] for u in body["units"]] == [G3]


def test_load_with_parent_and_bbox_gives_both(world, viewer_api):
    body = viewer_api.get(
        "/api/layers/load/",
        {"parent": world["node"].id, "bbox": "98.0019,39.0001,98.0021,39.0002"},
    ).json()
    assert [u["code"] for u in body["units"]] == [G1, G2]


def test_load_defaults_to_grids(world, viewer_api):
    body = viewer_api.get("/api/layers/load/", {"parent": world["segment"].id}).json()
    assert body["level"] == "grid"
    assert len(body["units"]) == 3


@pytest.mark.parametrize(
    ("params", "status", "error", "where"),
    [
        ({"level": "grid"}, 400, "missing_parameter", "parent"),
        ({"level": "network", "bbox": WORLD_BBOX}, 400, "invalid_level", "level"),
        ({"parent": "abc"}, 400, "invalid_parent", "parent"),
        ({"parent": "999999"}, 404, "not_found", "parent"),
        ({"level": "node", "bbox": "1,2,3"}, 400, "invalid_bbox", "bbox"),
    ],
)
def test_load_with_bad_parameters_gets_an_error(world, viewer_api, params, status, error, where):
    response = viewer_api.get("/api/layers/load/", params)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["where"] == where


@pytest.mark.parametrize(("level", "parent"), [("grid", "g1"), ("node", "node"), ("node", "g2")])
def test_load_parent_must_be_above_the_level(world, viewer_api, level, parent):
    response = viewer_api.get("/api/layers/load/", {"level": level, "parent": world[parent].id})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_parent"


# --- access and schema --------------------------------------------------------------------------

ENDPOINTS = [
    f"/api/layers/buildings/?bbox={WORLD_BBOX}",
    f"/api/layers/cameras/?bbox={WORLD_BBOX}",
    f"/api/layers/households/?bbox={WORLD_BBOX}",
    "/api/layers/load/?parent={node}",
    "/api/search/?q=利民",
]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_anonymous_request_gets_401_and_no_data(world, url):
    building(98.0005, 39.0005)
    response = APIClient().get(url.format(node=world["node"].id))
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert "620200" not in response.content.decode()
    assert "新华北路" not in response.content.decode()


@pytest.mark.parametrize("url", ENDPOINTS)
def test_user_without_a_role_gets_403(world, api_as, url):
    response = api_as(None).get(url.format(node=world["node"].id))
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"


@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("url", ENDPOINTS)
def test_every_role_may_read_the_layers(world, api_as, role, url):
    assert api_as(role).get(url.format(node=world["node"].id)).status_code == 200


def test_schema_documents_the_layer_and_search_endpoints(world, admin_client):
    text = admin_client.get("/api/schema/").content.decode()
    for path in (
        "/api/layers/buildings/",
        "/api/layers/cameras/",
        "/api/layers/households/",
        "/api/layers/load/",
        "/api/search/",
    ):
        assert f"{path}:" in text


def test_coordinates_are_rounded_to_7_decimals(world, viewer_api):
    Building.objects.create(footprint=box(98.000512345678, 39.0005, 98.0007, 39.0006))
    body = viewer_api.get("/api/layers/buildings/", {"bbox": WORLD_BBOX}).json()
    x = body["features"][0]["geometry"]["coordinates"][0][0][0]
    assert math.isclose(x, 98.0005123, abs_tol=1e-12)
