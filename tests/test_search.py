"""Search: units by code or name, buildings by a tolerant address match."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.contrib.gis.geos import Point
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from layers.models import Building
from layers.services.address import normalize_address, search_buildings
from tests.conftest import G1, G2, G3, NODE, box, user_with_role

pytestmark = pytest.mark.django_db


def building(xmin: float, ymin: float, road: str, number: str, **kw) -> Building:
    return Building.objects.create(
        footprint=box(xmin, ymin, xmin + 0.0002, ymin + 0.0001), road=road, number=number, **kw
    )


@pytest.fixture
def streets(world) -> dict[str, Building]:
    """Addresses as the Limin demo stores them (number with 号), and a few near-misses."""
    return {
        "47": building(98.0005, 39.0005, "新华北路", "47号"),
        "147": building(98.0010, 39.0005, "新华北路", "147号"),
        "471": building(98.0015, 39.0005, "新华北路", "471号"),
        "other_road_47": building(98.0045, 39.0005, "五一北路", "47号"),
        "center": building(98.0005, 39.0015, "新华北路", "55号", name="利民社区服务中心"),
    }


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("新华北路47号", "新华北路47"),
        ("新华北路４７号", "新华北路47"),
        ("新华北路 47", "新华北路47"),
        ("  新华北路　４７　号 ", "新华北路47"),  # ideographic spaces
        ("新华北路\t47\n", "新华北路47"),
        ("新华北路47号院", "新华北路47号院"),  # only a trailing 号 is dropped
        ("嘉兴东路１２Ａ", "嘉兴东路12a"),
        ("", ""),
    ],
)
def test_normalize_address_folds_width_case_whitespace_and_a_trailing_hao(text, key):
    assert normalize_address(text) == key


@pytest.mark.parametrize(
    "q", ["新华北路４７号", "新华北路 47", "新华北路47号", "新华北路47", "新华北路　４７　号"]
)
def test_an_address_typed_any_of_these_ways_finds_the_building_first(streets, viewer_api, q):
    response = viewer_api.get("/api/search/", {"q": q})
    assert response.status_code == 200
    first = response.json()[0]
    assert first["type"] == "building"
    assert first["id"] == streets["47"].id
    assert first["label"] == "新华北路47号"


def test_the_exact_address_comes_before_longer_numbers_on_the_same_road(streets, viewer_api):
    results = viewer_api.get("/api/search/", {"q": "新华北路47号"}).json()
    assert [r["id"] for r in results] == [streets["47"].id, streets["471"].id]


def test_a_bare_number_finds_it_on_every_road_shortest_address_first(streets, viewer_api):
    results = viewer_api.get("/api/search/", {"q": "47"}).json()
    assert [r["label"] for r in results] == [
        "五一北路47号",
        "新华北路47号",
        "新华北路147号",
        "新华北路471号",
    ]


def test_a_stored_full_width_or_spaced_address_is_found_by_a_plain_query(world, viewer_api):
    stored = building(98.0005, 39.0005, "新华北路 ", "４７　号")
    results = viewer_api.get("/api/search/", {"q": "新华北路47"}).json()
    assert [r["id"] for r in results] == [stored.id]


def test_a_building_is_found_by_its_name(streets, viewer_api):
    [result] = viewer_api.get("/api/search/", {"q": "服务中心"}).json()
    assert result["id"] == streets["center"].id
    assert result["label"] == "利民社区服务中心（新华北路55号）"


def test_a_building_result_has_its_box_and_a_point_on_it(streets, viewer_api):
    result = viewer_api.get("/api/search/", {"q": "新华北路47"}).json()[0]
    assert result == {
        "type": "building",
        "id": streets["47"].id,
        "label": "新华北路47号",
        "address": "新华北路47号",
        "bbox": [98.0005, 39.0005, 98.0007, 39.0006],
        "point": pytest.approx([98.0006, 39.00055], abs=1e-7),
    }


def test_units_are_found_by_code_prefix(world, viewer_api):
    results = viewer_api.get("/api/search/", {"q": NODE}).json()
    assert [r["code"] for r in results] == [NODE, G1, G2, G3]
    assert results[0] == {
        "type": "unit",
        "id": world["node"].id,
        "label": "利民社区",
        "code": NODE,
        "level": "node",
        "bbox": [98.0, 39.0, 98.006, 39.002],
        "point": results[0]["point"],
    }
    assert world["node"].geom.covers(Point(*results[0]["point"], srid=4326))


def test_a_full_width_code_finds_the_unit(world, viewer_api):
    results = viewer_api.get("/api/search/", {"q": "６２０２００００１００１００３"}).json()
    assert [r["code"] for r in results] == [G3]


def test_units_are_found_by_a_part_of_their_name_upper_levels_first(world, viewer_api):
    assert [r["code"] for r in viewer_api.get("/api/search/", {"q": "网格"}).json()] == [
        G1,
        G2,
        G3,
    ]
    assert [r["label"] for r in viewer_api.get("/api/search/", {"q": "钢城"}).json()] == [
        "钢城街道"
    ]


def test_units_and_buildings_come_in_one_list_best_match_first(streets, viewer_api):
    results = viewer_api.get("/api/search/", {"q": "利民社区"}).json()
    assert [(r["type"], r["label"]) for r in results] == [
        ("unit", "利民社区"),  # the exact name
        ("building", "利民社区服务中心（新华北路55号）"),  # a building name containing it
    ]


def test_limit_caps_the_list(streets, viewer_api):
    assert len(viewer_api.get("/api/search/", {"q": "47", "limit": 2}).json()) == 2
    assert len(viewer_api.get("/api/search/", {"q": "47"}).json()) == 4


def test_nothing_found_is_an_empty_list(streets, viewer_api):
    assert viewer_api.get("/api/search/", {"q": "不存在的路"}).json() == []


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "  　"}])
def test_an_empty_query_gets_400_missing_parameter(world, viewer_api, params):
    response = viewer_api.get("/api/search/", params)
    assert response.status_code == 400
    assert response.json()["error"] == "missing_parameter"
    assert response.json()["where"] == "q"


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1", "2.5"])
def test_a_bad_limit_gets_400(world, viewer_api, limit):
    response = viewer_api.get("/api/search/", {"q": "利民", "limit": limit})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_limit"
    assert response.json()["where"] == "limit"


def test_building_results_need_the_building_view_permission(streets):
    user = user_with_role(None, "units-only")
    user.user_permissions.add(Permission.objects.get(codename="view_gridunit"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    assert client.get("/api/search/", {"q": "新华北路47"}).json() == []
    assert [r["type"] for r in client.get("/api/search/", {"q": "利民社区"}).json()] == ["unit"]


def test_search_buildings_is_usable_without_the_api(streets):
    found = search_buildings("五一北路４７", limit=5)
    assert [b["id"] for b in found] == [streets["other_road_47"].id]
    assert found[0]["address"] == "五一北路47号"
    assert search_buildings("号") == []
