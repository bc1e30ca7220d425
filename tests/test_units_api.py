"""/api/units/ (GeoJSON, filters) and /api/units/{id}/summary/ (households, colors, staffing)."""

from __future__ import annotations

import pytest

from gridmap.assignment import assign_all
from gridmap.models import GridUnit
from gridmap.staffing import required_community_staff, workload_flag
from layers.models import Building, Household
from tests.conftest import box

pytestmark = pytest.mark.django_db


def test_units_list_is_a_geojson_feature_collection(world, viewer_api):
    body = viewer_api.get("/api/units/").json()
    assert body["type"] == "FeatureCollection"
    assert body["count"] == 6
    feature = body["features"][0]
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert feature["properties"]["code"] == "620200"
    assert feature["properties"]["level"] == "network"
    assert feature["properties"]["parent_code"] is None


@pytest.mark.parametrize(
    ("params", "codes"),
    [
        ({"level": "grid"}, ["620200001001001", "620200001001002", "620200001001003"]),
        ({"parent": "620200001001"}, ["620200001001001", "620200001001002", "620200001001003"]),
        ({"level": "segment"}, ["620200001"]),
        ({"level": "grid", "bbox": "98.0045,39.0001,98.0055,39.0009"}, ["620200001001003"]),
        (
            {"level": "grid", "bbox": "98.0019,39.0001,98.0021,39.0002"},
            ["620200001001001", "620200001001002"],
        ),
    ],
)
def test_units_list_filters_by_level_parent_and_bbox(world, viewer_api, params, codes):
    body = viewer_api.get("/api/units/", params).json()
    assert [f["properties"]["code"] for f in body["features"]] == codes


def test_units_parent_filter_accepts_the_parent_id(world, viewer_api):
    body = viewer_api.get("/api/units/", {"parent": world["segment"].id}).json()
    assert [f["properties"]["code"] for f in body["features"]] == [world["node"].code]


def test_malformed_bbox_gets_400(world, viewer_api):
    response = viewer_api.get("/api/units/", {"bbox": "1,2,3"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_bbox"


def test_unknown_level_gets_400(world, viewer_api):
    response = viewer_api.get("/api/units/", {"level": "province"})
    assert response.status_code == 400
    assert response.json()["where"] == "level"


def test_unit_detail_is_a_feature(world, viewer_api):
    body = viewer_api.get(f"/api/units/{world['g2'].id}/").json()
    assert body["type"] == "Feature"
    assert body["properties"]["parent_code"] == world["node"].code
    assert len(body["geometry"]["coordinates"][0]) == 3  # G2: a shell and two holes


def test_unknown_unit_gets_404_in_the_error_shape(world, viewer_api):
    response = viewer_api.get("/api/units/999999/")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def add_households(building: Building, n: int, **fields) -> None:
    Household.objects.bulk_create(Household(building=building, **fields) for _ in range(n))


def test_summary_counts_households_residents_colors_and_grid_workload(world, viewer_api):
    west = Building.objects.create(footprint=box(98.0005, 39.0005, 98.0008, 39.0008))
    east = Building.objects.create(footprint=box(98.0045, 39.0005, 98.0048, 39.0008))
    add_households(west, 240, residents=2, color="green", aged_60_plus=1)
    add_households(west, 10, residents=1, color="red", disabled=1)
    add_households(east, 100, residents=3, color="yellow", party_members=1)
    assign_all()

    body = viewer_api.get(f"/api/units/{world['node'].id}/summary/").json()
    assert body["households"] == 350
    assert body["residents"] == 240 * 2 + 10 + 300
    assert body["households_by_color"] == {
        "red": 10,
        "orange": 0,
        "yellow": 100,
        "blue": 0,
        "green": 240,
    }
    assert body["attention"]["aged_60_plus"] == 240
    assert body["attention"]["disabled"] == 10
    assert body["attention"]["party_members"] == 100
    grids = {g["code"]: g for g in body["grids"]}
    assert grids[world["g1"].code]["households"] == 250
    assert grids[world["g1"].code]["flag"] == "ok"
    assert grids[world["g3"].code]["households"] == 100
    assert grids[world["g3"].code]["flag"] == "under"
    assert grids[world["g2"].code]["households"] == 0
    assert body["grids_flagged"] == 2
    assert body["required_staff"] == 11

    grid_body = viewer_api.get(f"/api/units/{world['g1'].id}/summary/").json()
    assert grid_body["households"] == 250
    assert "required_staff" not in grid_body


def test_grid_target_comes_from_the_community_when_it_sets_one(world, viewer_api):
    GridUnit.objects.filter(pk=world["node"].pk).update(target_households=100)
    building = Building.objects.create(footprint=box(98.0045, 39.0005, 98.0048, 39.0008))
    add_households(building, 100)
    assign_all()
    grids = viewer_api.get(f"/api/units/{world['node'].id}/summary/").json()["grids"]
    g3 = next(g for g in grids if g["code"] == world["g3"].code)
    assert (g3["target"], g3["ratio"], g3["flag"]) == (100, 1.0, "ok")


@pytest.mark.parametrize(
    ("households", "staff"),
    [
        (0, 11),
        (999, 11),
        (1000, 11),
        (1099, 11),
        (1100, 12),
        (1499, 15),
        (1500, 16),
        (1649, 16),
        (1650, 17),
        (1999, 19),
        (2000, 19),
        (2199, 19),
        (2200, 20),
        (2261, 20),
        (4839, 33),
    ],
)
def test_community_staff_standard(households, staff):
    assert required_community_staff(households) == staff


@pytest.mark.parametrize(("households", "staff"), [(1000, 11), (1500, 16), (2000, 19)])
def test_summary_of_a_node_applies_the_staff_standard(world, viewer_api, households, staff):
    building = Building.objects.create(footprint=box(98.0005, 39.0005, 98.0008, 39.0008))
    add_households(building, households)
    assign_all()
    body = viewer_api.get(f"/api/units/{world['node'].id}/summary/").json()
    assert (body["households"], body["required_staff"]) == (households, staff)


@pytest.mark.parametrize(
    ("households", "flag"),
    [(212, "under"), (213, "ok"), (250, "ok"), (287, "ok"), (288, "over")],
)
def test_grid_workload_flag_against_a_target_of_250(households, flag):
    assert workload_flag(households, 250) == flag


@pytest.mark.parametrize(
    ("params", "status", "error", "where"),
    [
        ({"page": "abc"}, 400, "invalid_page", "page"),
        ({"page": "0"}, 400, "invalid_page", "page"),
        ({"page": "999"}, 404, "invalid_page", "page"),
        ({"bbox": "10,10,0,0"}, 400, "invalid_bbox", "bbox"),
        ({"bbox": "0,0,1000,1000"}, 400, "invalid_bbox", "bbox"),
        ({"parent": "abc"}, 400, "invalid_parent", "parent"),
        ({"level": "foo"}, 400, "invalid", "level"),
    ],
)
def test_bad_list_parameters_get_an_error_saying_which(
    world, viewer_api, params, status, error, where
):
    response = viewer_api.get("/api/units/", params)
    assert response.status_code == status
    body = response.json()
    assert (body["error"], body["where"]) == (error, where)
    assert body["detail"].split(" / ", 1)[1].isascii()


def test_an_unknown_api_path_answers_json(world, viewer_api):
    response = viewer_api.get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
