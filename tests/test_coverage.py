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
    holes = json.loads(coverage.holes_geojson(Facility.Kind.MEDICAL, 5, [world["node"].pk]))
    assert [f["properties"]["building_id"] for f in holes["features"]] == [
        homes["far"].building_id,
        homes["mid"].building_id,
    ]
    assert [g["code"] for g in holes["grids"]] == [world["g3"].code, world["g2"].code]
    assert "head_name" not in json.dumps(holes)


def test_siting_proposes_the_site_that_covers_the_uncovered_and_its_gain(town):
    # Only "far" (4 residents, ~477 m) is beyond 15 minutes; every home is within 450 m of it,
    # so one site covers it and a second would add nothing.
    world, _, _ = town
    (site,) = coverage.siting(Facility.Kind.MEDICAL, 15, k=3, units=[world["node"].pk])
    assert (site["rank"], site["residents"], site["households"]) == (1, 4, 1)


def test_siting_among_given_candidates_picks_the_one_that_reaches_and_skips_one_off_the_road(
    town,
):
    world, _, _ = town
    off_road = (98.0055, 39.005)  # ~440 m north of the street: joins no edge
    near_far = (98.0050, 39.001)  # on the street ~43 m from "far"
    sites = coverage.siting(
        Facility.Kind.MEDICAL, 15, k=2, units=[world["node"].pk], candidates=[off_road, near_far]
    )
    assert [(s["rank"], s["building_id"], s["point"], s["residents"]) for s in sites] == [
        (1, None, list(near_far), 4)
    ]
    assert "2" in sites[0]["name"]


def test_coverage_sums_up_the_chain_from_grids_to_the_network(town):
    world, _, _ = town
    units = [world[k] for k in ("network", "segment", "node", "g1", "g2", "g3")]
    rows = {r["code"]: r["kinds"] for r in coverage.unit_coverage(units, [Facility.Kind.MEDICAL])}
    for upper in ("network", "segment", "node"):
        (medical,) = rows[world[upper].code]
        assert (medical["households"], medical["residents"]) == (3, 7)
        assert medical["within_15"]["residents"] == pytest.approx(3 / 7, abs=1e-4)
    (g1,) = rows[world["g1"].code]
    assert g1["within_5"] == {"households": 1.0, "residents": 1.0}
    (g3,) = rows[world["g3"].code]
    assert g3["within_15"] == {"households": 0.0, "residents": 0.0}


def test_buildings_carry_their_households_walking_time_and_counts_within_each_threshold(town):
    import json

    world, _, homes = town
    body = json.loads(coverage.buildings_geojson(Facility.Kind.MEDICAL, [world["node"].pk]))
    by_building = {f["properties"]["building_id"]: f["properties"] for f in body["features"]}
    near, mid, far = (by_building[homes[k].building_id] for k in ("near", "mid", "far"))
    assert near["minutes"] == pytest.approx(87 / 0.5 / 60, abs=0.3)
    assert near["within"]["5"] == {"households": 1, "residents": 1}
    assert mid["within"]["5"]["households"] == 0 and mid["within"]["10"]["households"] == 1
    assert far["minutes"] is None and far["within"]["15"] == {"households": 0, "residents": 0}
    assert "head_name" not in json.dumps(body) and "phone" not in json.dumps(body)


def test_each_household_gets_its_minutes_per_kind_and_the_kinds_it_lacks(town):
    world, _, homes = town
    rows = {r["id"]: r for r in coverage.household_coverage([world["node"].pk])}
    near, far = rows[homes["near"].pk], rows[homes["far"].pk]
    assert near["minutes"]["medical"] == pytest.approx(87 / 0.5 / 60, abs=0.3)
    # No facility of any other kind exists: every household lacks those.
    assert set(near["lacking"]) == set(coverage.KINDS) - {"medical"}
    assert set(far["lacking"]) == set(coverage.KINDS)
    assert (
        near["grid_code"] == world["g1"].code and near["building_id"] == homes["near"].building_id
    )


# --- stale circles: the walking speed or the access distance changed ----------------------------


def test_circles_computed_at_another_speed_are_stale_and_rebuilt_by_the_command(settings):
    from django.core.management import call_command

    street(0, 2000)
    settings.GRIDMAP_WALK_SPEED_MPS = 1.0
    f = facility(at(0))
    build(f)
    unbuilt = Facility.objects.bulk_create([Facility(kind="medical", name="新", location=at(900))])
    assert coverage.stale_facilities() == [unbuilt[0].pk]  # missing circles are stale too
    settings.GRIDMAP_WALK_SPEED_MPS = 1.2
    assert coverage.stale_facilities() == sorted([f.pk, unbuilt[0].pk])
    assert coverage.stale_facilities(kind="education") == []
    call_command("build_service_circles", "--stale", stdout=__import__("io").StringIO())
    assert coverage.stale_facilities() == []
    five = circle(f, 5)
    assert five.speed_mps == 1.2
    assert five.geom.contains(at(1.2 * 300 + 20)) and not five.geom.contains(at(1.2 * 300 + 80))


def test_isochrones_say_which_circles_are_stale(settings, viewer_api):
    street(0, 1000)
    f = facility(at(0))
    build(f)
    settings.GRIDMAP_WALK_ACCESS_M = 30
    body = viewer_api.get("/api/coverage/isochrones/", {"kind": "medical", "minutes": 5}).json()
    (feature,) = body["features"]
    assert feature["properties"]["stale"] is True and feature["properties"]["access_m"] == 50
    assert coverage.stale_facilities() == [f.pk]


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
    given = viewer_api.get(
        "/api/coverage/siting/",
        {"kind": "medical", "unit": world["node"].pk, "candidates": "98.005,39.001;98.0,39.0"},
    ).json()
    assert [(s["building_id"], s["point"]) for s in given["sites"]] == [(None, [98.005, 39.001])]


def test_buildings_coverage_api_in_a_box(town, viewer_api):
    _, _, homes = town
    body = viewer_api.get(
        "/api/coverage/buildings/", {"kind": "medical", "bbox": "98.0,39.0,98.002,39.002"}
    ).json()
    assert [f["properties"]["building_id"] for f in body["features"]] == [homes["near"].building_id]


def test_households_coverage_needs_the_household_permission_and_a_grid_or_node(town, api_as):
    world, _, homes = town
    query = {"unit": world["node"].pk}
    assert api_as("viewer").get("/api/coverage/households/", query).status_code == 403
    planner = api_as("planner")
    rows = planner.get("/api/coverage/households/", {**query, "kind": "medical"}).json()
    assert {r["id"]: r["lacking"] for r in rows} == {
        homes["near"].pk: [],
        homes["mid"].pk: [],
        homes["far"].pk: ["medical"],
    }
    assert "head_name" not in str(rows)
    refused = planner.get("/api/coverage/households/", {"unit": world["segment"].pk})
    assert refused.status_code == 400 and refused.json()["where"] == "unit"


def test_facility_layer_in_a_box_and_of_one_kind(world, viewer_api):
    facility(Point(98.001, 39.001, srid=4326))
    facility(Point(98.002, 39.001, srid=4326), kind=Facility.Kind.EDUCATION)
    facility(Point(99.0, 39.001, srid=4326))
    body = viewer_api.get("/api/layers/facilities/", {"bbox": "98,39,98.01,39.01"}).json()
    assert sorted(f["properties"]["kind"] for f in body["features"]) == ["education", "medical"]
    one = viewer_api.get(
        "/api/layers/facilities/", {"bbox": "98,39,98.01,39.01", "kind": "education"}
    ).json()
    assert [f["properties"]["kind"] for f in one["features"]] == ["education"]
    assert one["features"][0]["properties"]["grid_code"] is not None


@pytest.mark.parametrize(
    ("path", "query", "where"),
    [
        ("/api/coverage/isochrones/", {}, "kind"),
        ("/api/coverage/isochrones/", {"kind": "spa"}, "kind"),
        ("/api/coverage/isochrones/", {"kind": "medical", "minutes": 20}, "minutes"),
        ("/api/coverage/units/", {"level": "grid"}, "parent"),
        ("/api/coverage/siting/", {"kind": "medical", "k": 50, "unit": 1}, "k"),
        ("/api/coverage/siting/", {"kind": "medical"}, "unit"),
        (
            "/api/coverage/siting/",
            {"kind": "medical", "unit": 1, "candidates": "98,x"},
            "candidates",
        ),
        (
            "/api/coverage/siting/",
            {"kind": "medical", "unit": 1, "candidates": "39,98"},
            "candidates",
        ),
        ("/api/coverage/buildings/", {"kind": "medical"}, "unit"),
        ("/api/layers/facilities/", {"bbox": "98,39,98.01,39.01", "kind": "spa"}, "kind"),
    ],
)
def test_coverage_api_refuses_bad_parameters_with_where(world, viewer_api, path, query, where):
    response = viewer_api.get(path, query)
    assert response.status_code == 400
    assert response.json()["where"] == where and " / " in response.json()["detail"]
