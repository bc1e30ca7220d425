"""15-minute service circles and coverage, on hand-made street networks whose answers are known."""

from __future__ import annotations

import itertools

import pytest
from django.contrib.gis.geos import LineString, Point, Polygon
from django.db import connection

from layers import coverage
from layers.models import Building, Facility, Household, Road, ServiceCircle
from layers.services import walknet
from tests.conftest import NODE

pytestmark = pytest.mark.django_db

LON, LAT = 98.0, 39.0


def at(north_m: float, east_m: float = 0.0) -> Point:
    """The point `north_m` metres north and `east_m` east of (LON, LAT), on the ellipsoid."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT ST_AsText(ST_Project(ST_Project(ST_MakePoint(%s, %s)::geography, %s, 0),
                                           %s, pi() / 2)::geometry)""",
            [LON, LAT, north_m, east_m],
        )
        return Point.from_ewkt(f"SRID=4326;{cursor.fetchone()[0]}")


def street(*north_m: float, east_m: float = 0.0, walkable: bool = True) -> list[Road]:
    """A north–south street from mark to mark, one road segment between each two marks."""
    return [
        Road.objects.create(
            name="街", walkable=walkable, geom=LineString(at(a, east_m), at(b, east_m), srid=4326)
        )
        for a, b in itertools.pairwise(north_m)
    ]


def facility(point: Point, kind: str = Facility.Kind.MEDICAL) -> Facility:
    return Facility.objects.create(kind=kind, name="卫生站", location=point)


def circle(f: Facility, minutes: int) -> ServiceCircle:
    return ServiceCircle.objects.get(facility=f, minutes=minutes)


def household_at(point: Point, residents: int = 1, grid=None) -> Household:
    half = 0.00002
    footprint = Polygon.from_bbox((point.x - half, point.y - half, point.x + half, point.y + half))
    footprint.srid = 4326
    building = Building.objects.create(road="街", number="1号", footprint=footprint, grid=grid)
    return Household.objects.create(building=building, residents=residents, grid=grid)


def build(*facilities: Facility) -> None:
    walknet.refresh()
    coverage.compute_circles([f.pk for f in facilities])


def test_on_a_straight_street_the_circle_reaches_speed_times_time_plus_the_access(settings):
    street(0, 500, 1000, 1500)
    f = facility(at(0))
    build(f)
    reach_5, reach_15 = 5 * 60 * 1.1, 15 * 60 * 1.1  # 330 m, 990 m
    five, fifteen = circle(f, 5), circle(f, 15)
    assert (five.method, five.speed_mps) == ("network", 1.1)
    # 330 m ends inside the 0–500 m segment: a partly reachable edge is cut there.
    assert five.geom.contains(at(reach_5 + 45)) and not five.geom.contains(at(reach_5 + 55))
    assert fifteen.geom.contains(at(reach_15 + 45))
    assert not fifteen.geom.contains(at(reach_15 + 55))
    # Buffered street, not a hull: 60 m beside the street is outside.
    assert not fifteen.geom.contains(at(300, east_m=60))


def test_a_facility_in_the_middle_of_an_edge_reaches_both_ways_along_it():
    street(0, 1000)
    f = facility(at(500, east_m=20))  # 20 m off the street, half-way along the one edge
    build(f)
    five = circle(f, 5)
    assert five.geom.contains(at(500 - 370)) and five.geom.contains(at(500 + 370))
    assert not five.geom.contains(at(500 - 390)) and not five.geom.contains(at(500 + 390))


def test_across_a_river_with_one_bridge_a_household_100_m_away_is_far_on_foot():
    # West bank street, east bank street 100 m east, one bridge 1 km north.
    street(0, 500, 1000)
    street(0, 500, 1000, east_m=100)
    Road.objects.create(name="桥", geom=LineString(at(1000), at(1000, east_m=100), srid=4326))
    f = facility(at(0))
    across = household_at(at(0, east_m=105))
    same_bank = household_at(at(200, east_m=-5))
    build(f)
    minutes = coverage.household_minutes(Facility.Kind.MEDICAL)
    assert minutes[across.pk] is None  # 2,100 m: beyond 15 minutes
    assert minutes[same_bank.pk] == pytest.approx(200 / 1.1 / 60, rel=0.01)
    assert not circle(f, 15).geom.contains(at(0, east_m=100))


def test_without_a_road_network_circles_are_straight_line_buffers():
    f = facility(at(0))
    build(f)
    circles = {c.minutes: c for c in f.circles.all()}
    assert {c.method for c in circles.values()} == {"buffer"}
    for minutes, radius in coverage.BUFFER_RADII_M.items():
        assert circles[minutes].geom.contains(at(radius - 5, east_m=0))
        assert not circles[minutes].geom.contains(at(0, east_m=radius + 5))


def test_a_facility_off_every_road_gets_buffers_and_covers_households_by_them():
    street(0, 500)
    f = facility(at(0, east_m=500))  # 500 m from the street: beyond the access distance
    near = household_at(at(0, east_m=300))  # 200 m: within the 5-minute buffer (300 m)
    build(f)
    assert set(f.circles.values_list("method", flat=True)) == {"buffer"}
    assert coverage.household_minutes(Facility.Kind.MEDICAL)[near.pk] == 5


def test_removing_a_road_recomputes_the_circles_that_used_it(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # what the edits below start from
        _, second, _ = street(0, 500, 1000, 1500)
        f = facility(at(0))
    assert circle(f, 15).geom.contains(at(900))
    with django_capture_on_commit_callbacks(execute=True):
        second.delete()
    assert not circle(f, 15).geom.contains(at(900))
    assert circle(f, 15).geom.contains(at(540))


def test_moving_a_facility_recomputes_its_circles(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        street(0, 500, 1000, 1500)
        f = facility(at(0))
    assert circle(f, 5).geom.contains(at(100))
    with django_capture_on_commit_callbacks(execute=True):
        f.location = at(1500)
        f.save()
    assert circle(f, 5).geom.contains(at(1500 - 300))
    assert not circle(f, 5).geom.contains(at(100))


# --- coverage of units: the conftest world, a street along 39.001 across its three grids --------
# At 0.5 m/s the thresholds are 150 m, 300 m and 450 m; a degree of longitude is ~86.7 km here.


@pytest.fixture
def town(world, settings):
    settings.GRIDMAP_WALK_SPEED_MPS = 0.5
    Road.objects.create(
        name="东西街", geom=LineString((98.000, 39.001), (98.003, 39.001), (98.006, 39.001))
    )
    f = facility(Point(98.000, 39.001, srid=4326))
    homes = {
        "near": household_at(Point(98.001, 39.0009, srid=4326), 1, world["g1"]),  # ~87 m
        "mid": household_at(Point(98.003, 39.0009, srid=4326), 2, world["g2"]),  # ~260 m
        "far": household_at(Point(98.0055, 39.0009, srid=4326), 4, world["g3"]),  # ~477 m
    }
    build(f)
    return world, f, homes


def test_coverage_shares_count_households_and_residents_within_each_threshold(town):
    world, _, _ = town
    (node,) = coverage.unit_coverage([world["node"]], [Facility.Kind.MEDICAL])
    (medical,) = node["kinds"]
    assert (medical["households"], medical["residents"]) == (3, 7)
    assert medical["within_5"] == {
        "households": pytest.approx(1 / 3, abs=1e-4),
        "residents": pytest.approx(1 / 7, abs=1e-4),
    }
    assert medical["within_10"]["residents"] == pytest.approx(3 / 7, abs=1e-4)
    assert medical["within_15"]["households"] == pytest.approx(2 / 3, abs=1e-4)


def test_holes_are_counted_per_building_and_grids_ranked_by_uncovered_residents(town):
    import json

    world, _, homes = town
    holes = json.loads(coverage.holes_geojson(Facility.Kind.MEDICAL, 5, [NODE]))
    assert [f["properties"]["building_id"] for f in holes["features"]] == [
        homes["far"].building_id,
        homes["mid"].building_id,
    ]
    assert [g["code"] for g in holes["grids"]] == [world["g3"].code, world["g2"].code]
    assert "head_name" not in json.dumps(holes)


def test_siting_proposes_the_site_that_covers_the_uncovered_and_its_gain(town):
    # Only "far" (4 residents, ~477 m) is beyond 15 minutes; every home is within 450 m of it,
    # so one site covers it and a second would add nothing.
    (site,) = coverage.siting(Facility.Kind.MEDICAL, 15, k=3, prefixes=[NODE])
    assert (site["rank"], site["residents"], site["households"]) == (1, 4, 1)


# --- the API ------------------------------------------------------------------------------------


def test_isochrones_api_returns_the_stored_circles_as_geojson(town, viewer_api):
    body = viewer_api.get("/api/coverage/isochrones/", {"kind": "medical", "minutes": 5}).json()
    assert body["type"] == "FeatureCollection" and body["features"]
    props = body["features"][0]["properties"]
    assert (props["kind"], props["minutes"], props["method"]) == ("medical", 5, "network")
    assert body["features"][0]["geometry"]["type"] == "MultiPolygon"


def test_coverage_api_per_unit_and_for_one_unit(town, viewer_api):
    world, _, _ = town
    rows = viewer_api.get(
        "/api/coverage/units/", {"level": "node", "parent": world["segment"].pk, "kind": "medical"}
    ).json()
    (node,) = rows
    assert node["code"] == NODE and node["kinds"][0]["households"] == 3
    one = viewer_api.get(f"/api/coverage/units/{world['node'].pk}/").json()
    assert "medical" in one["lacking"]  # one household of three is beyond 15 minutes
    assert {k["kind"] for k in one["unit"]["kinds"]} >= {"medical"}


def test_holes_and_siting_api(town, viewer_api):
    world, _, homes = town
    holes = viewer_api.get(
        "/api/coverage/holes/", {"kind": "medical", "minutes": 15, "unit": world["node"].pk}
    ).json()
    assert [f["properties"]["building_id"] for f in holes["features"]] == [homes["far"].building_id]
    siting = viewer_api.get(
        "/api/coverage/siting/", {"kind": "medical", "k": 2, "unit": world["node"].pk}
    ).json()
    assert [s["residents"] for s in siting["sites"]] == [4]


@pytest.mark.parametrize(
    ("path", "query", "where"),
    [
        ("/api/coverage/isochrones/", {}, "kind"),
        ("/api/coverage/isochrones/", {"kind": "spa"}, "kind"),
        ("/api/coverage/isochrones/", {"kind": "medical", "minutes": 20}, "minutes"),
        ("/api/coverage/units/", {"level": "grid"}, "parent"),
        ("/api/coverage/siting/", {"kind": "medical", "k": 50, "unit": 1}, "k"),
        ("/api/coverage/siting/", {"kind": "medical"}, "unit"),
    ],
)
def test_coverage_api_refuses_bad_parameters_with_where(world, viewer_api, path, query, where):
    response = viewer_api.get(path, query)
    assert response.status_code == 400
    assert response.json()["where"] == where and " / " in response.json()["detail"]
