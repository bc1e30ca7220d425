"""GET /api/locate/: the grid chain and staff for a point in any common Chinese CRS."""

from __future__ import annotations

import pytest

from gridmap import coords

pytestmark = pytest.mark.django_db

INSIDE_G1 = (98.001, 39.001)


def test_locate_returns_the_full_chain_staff_and_point(world, viewer_api):
    response = viewer_api.get("/api/locate/", {"lon": INSIDE_G1[0], "lat": INSIDE_G1[1]})
    assert response.status_code == 200
    body = response.json()
    assert body["grid"] == {"id": world["g1"].id, "code": world["g1"].code, "name": "第一网格"}
    assert body["node"]["code"] == world["node"].code
    assert body["segment"]["name"] == "钢城街道"
    assert body["network"]["code"] == "620200"
    assert body["point"] == [98.001, 39.001]
    assert body["conversion"]["applied"] == "none"
    assert [(s["role"], s["name"], s["phone"]) for s in body["staff"]] == [
        ("full_time_worker", "李娜", "13800000002"),
        ("grid_leader", "张伟", "13800000001"),
    ]
    assert body["reason"] is None


@pytest.mark.parametrize("crs", ["wgs84", "cgcs2000", "gcj02", "bd09", "GCJ-02", "epsg:4490"])
def test_locate_accepts_every_crs_and_converts_back_to_wgs84(world, viewer_api, crs):
    parsed = coords.CRS.parse(crs)
    lon, lat = coords.from_wgs84(*INSIDE_G1, parsed)
    body = viewer_api.get("/api/locate/", {"lon": lon, "lat": lat, "crs": crs}).json()
    assert body["grid"]["code"] == world["g1"].code
    assert body["point"] == pytest.approx(list(INSIDE_G1), abs=1e-7)
    assert body["conversion"]["crs"] == parsed.value
    expected = {"wgs84": "none", "cgcs2000": "cgcs2000_as_wgs84"}.get(parsed.value)
    assert body["conversion"]["applied"] == (expected or f"{parsed.value}_to_wgs84")
    assert body["conversion"]["note"]


def test_gcj02_input_is_hundreds_of_metres_off_when_read_as_wgs84(world, viewer_api):
    # Why the crs matters: the Amap coordinates of a point in G1 land in another grid as WGS84.
    lon, lat = coords.wgs84_to_gcj02(98.0019, 39.001)
    as_wgs = viewer_api.get("/api/locate/", {"lon": lon, "lat": lat}).json()
    as_gcj = viewer_api.get("/api/locate/", {"lon": lon, "lat": lat, "crs": "gcj02"}).json()
    assert as_gcj["grid"]["code"] == world["g1"].code
    assert as_wgs["grid"] is None or as_wgs["grid"]["code"] != world["g1"].code


def test_point_outside_every_unit_gets_nulls_and_a_reason(world, viewer_api):
    response = viewer_api.get("/api/locate/", {"lon": 100.0, "lat": 30.0})
    assert response.status_code == 200
    body = response.json()
    assert [body[level] for level in ("network", "segment", "node", "grid")] == [None] * 4
    assert body["staff"] == []
    assert "outside every network" in body["reason"]


def test_point_in_a_coverage_gap_gets_its_node_and_says_so(world, viewer_api):
    body = viewer_api.get("/api/locate/", {"lon": 98.0036, "lat": 39.0014}).json()
    assert body["grid"] is None
    assert body["node"]["code"] == world["node"].code
    assert body["network"]["code"] == "620200"
    assert "coverage gap" in body["reason"]


def test_point_on_a_shared_edge_is_located_in_the_lower_code(world, viewer_api):
    body = viewer_api.get("/api/locate/", {"lon": 98.002, "lat": 39.001}).json()
    assert body["grid"]["code"] == world["g1"].code


@pytest.mark.parametrize(
    ("params", "error", "where"),
    [
        pytest.param({"lat": 39.0}, "missing_parameter", "lon", id="missing_lon"),
        pytest.param({"lon": 98.0}, "missing_parameter", "lat", id="missing_lat"),
        pytest.param({"lon": "", "lat": 39.0}, "missing_parameter", "lon", id="empty_lon"),
        pytest.param({"lon": "98,1", "lat": 39.0}, "invalid_coordinates", "lon", id="comma"),
        pytest.param({"lon": "abc", "lat": 39.0}, "invalid_coordinates", "lon", id="text"),
        pytest.param({"lon": "nan", "lat": 39.0}, "invalid_coordinates", "lon", id="nan"),
        pytest.param({"lon": 98.0, "lat": "inf"}, "invalid_coordinates", "lat", id="inf"),
        pytest.param({"lon": 98.0, "lat": 91}, "invalid_coordinates", "lat", id="lat_91"),
        pytest.param({"lon": -181, "lat": 39.0}, "invalid_coordinates", "lon", id="lon_-181"),
        pytest.param({"lon": 98.0, "lat": 39.0, "crs": "utm"}, "unknown_crs", "crs", id="crs"),
    ],
)
def test_bad_input_gets_400_saying_what_and_where_in_both_languages(
    world, viewer_api, params, error, where
):
    response = viewer_api.get("/api/locate/", params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == error
    assert body["where"] == where
    chinese, english = body["detail"].split(" / ", 1)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese)
    assert english.isascii()


def test_swapped_lat_lon_is_refused_not_silently_located(world, viewer_api):
    response = viewer_api.get("/api/locate/", {"lon": 39.001, "lat": 98.001})
    assert response.status_code == 400
    assert response.json()["where"] == "lat"
