"""Locate and route (GET /api/dispatch/ and /api/dispatch/cameras/): the grid chain and whom to
call, the cameras whose sector covers the point, priority households near it, possible
duplicates. Distances are checked against pyproj's geodesics, not against our own SQL."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.contrib.auth.models import Permission
from django.contrib.gis.geos import Point
from django.utils import timezone
from pyproj import Geod
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from gridmap import coords
from gridmap.models import StaffMember
from layers.models import Building, Camera, Household, Incident
from layers.services import maplayers
from layers.services.dispatch import dispatch
from tests.conftest import G1, HOLE_A, box, user_with_role

pytestmark = pytest.mark.django_db

GEOD = Geod(ellps="WGS84")

# Away from the conftest world, at the latitude of the demo city: here a degree of longitude is
# ~85.6 km and a degree of latitude ~111 km, so a distance in degrees is wrong in one direction.
HERE = (98.29, 39.80)
INSIDE_G1 = (98.0018, 39.0013)


def moved(origin: tuple[float, float], azimuth: float, metres: float) -> tuple[float, float]:
    """The point `metres` from `origin` in direction `azimuth` (degrees from north)."""
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], azimuth, metres)
    return lon, lat


def metres(a, b) -> float:
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


def camera(code: str, at=HERE, bearing=90.0, fov=60.0, range_m=100.0, **kw) -> Camera:
    return Camera.objects.create(
        code=code, location=Point(*at, srid=4326), bearing=bearing, fov=fov, range_m=range_m, **kw
    )


def at_point(lonlat, **kw) -> dict:
    return dispatch(Point(*lonlat, srid=4326), **kw)


def covering(lonlat, **kw) -> list[str]:
    return [c["code"] for c in at_point(lonlat, **kw)["cameras"]["covering"]]


# --- cameras: which sectors cover the point -----------------------------------------------------


def test_a_point_within_range_and_angle_is_covered():
    camera("east", bearing=90, fov=60, range_m=100)
    assert covering(moved(HERE, 100, 80)) == ["east"]


def test_a_point_beyond_the_range_is_not_covered():
    camera("east", bearing=90, fov=60, range_m=100)
    assert covering(moved(HERE, 90, 105)) == []


def test_a_point_outside_the_angle_is_not_covered():
    camera("east", bearing=90, fov=60, range_m=100)
    assert covering(moved(HERE, 125, 50)) == []
    assert covering(moved(HERE, 55, 50)) == []


def test_range_is_metres_on_the_ellipsoid_not_degrees():
    # 95 m east is 0.0011° of longitude: 123 m if a degree were taken as 111 km.
    camera("east", bearing=90, fov=60, range_m=100)
    assert covering(moved(HERE, 90, 95)) == ["east"]


@pytest.mark.parametrize(
    ("azimuth", "covered"), [(5, True), (335, True), (30, False), (325, False)]
)
def test_a_sector_across_north_wraps_at_360(azimuth, covered):
    # bearing 350°, fov 40°: it sees from 330° through north to 10°.
    camera("north", bearing=350, fov=40, range_m=100)
    assert covering(moved(HERE, azimuth, 50)) == (["north"] if covered else [])


@pytest.mark.parametrize(
    ("azimuth", "covered"),
    [(0, True), (40, True), (320, True), (50, False), (310, False), (180, False)],
)
def test_bearing_0_with_fov_90_sees_from_315_to_45(azimuth, covered):
    camera("north", bearing=0, fov=90, range_m=100)
    assert covering(moved(HERE, azimuth, 50)) == (["north"] if covered else [])


@pytest.mark.parametrize("azimuth", [0, 90, 180, 270, 359])
def test_an_all_round_camera_covers_every_direction_within_range(azimuth):
    camera("dome", bearing=123, fov=360, range_m=60)
    assert covering(moved(HERE, azimuth, 55)) == ["dome"]
    assert covering(moved(HERE, azimuth, 65)) == []


def test_a_point_at_the_camera_itself_is_covered():
    camera("east", bearing=90, fov=30, range_m=100)
    assert covering(HERE) == ["east"]
    assert at_point(HERE)["cameras"]["covering"][0]["distance_m"] == 0


def test_a_point_on_the_sector_edge_is_covered_and_just_beyond_it_is_not():
    camera("east", bearing=90, fov=60, range_m=100)
    assert covering(moved(HERE, 120, 50)) == ["east"]  # on the side, at bearing + fov/2
    assert covering(moved(HERE, 60, 50)) == ["east"]  # on the other side
    assert covering(moved(HERE, 90, 100)) == ["east"]  # on the arc
    assert covering(moved(HERE, 120.5, 50)) == []
    assert covering(moved(HERE, 90, 100.5)) == []


def test_covering_cameras_come_nearest_first_with_status_and_distance():
    camera("far", at=moved(HERE, 270, 80), bearing=90, fov=30, range_m=100)
    camera("near", at=moved(HERE, 270, 20), bearing=90, fov=30, range_m=100, status="offline")
    camera("middle", at=moved(HERE, 0, 50), bearing=180, fov=30, range_m=100, status="fault")
    cameras = at_point(HERE)["cameras"]
    assert [(c["code"], c["status"]) for c in cameras["covering"]] == [
        ("near", "offline"),
        ("middle", "fault"),
        ("far", "online"),
    ]
    assert [c["distance_m"] for c in cameras["covering"]] == pytest.approx([20, 50, 80], abs=0.06)
    assert cameras["blind_spot"] is False
    assert cameras["nearby"] == []


def test_a_sector_is_the_camera_and_its_arc_at_range_metres():
    camera("east", bearing=90, fov=62, range_m=100)
    sector = at_point(HERE)["cameras"]["covering"][0]["sector"]
    assert sector["type"] == "Polygon"
    ring = sector["coordinates"][0]
    assert ring[0] == ring[-1] == pytest.approx(list(HERE), abs=1e-7)
    arc = ring[1:-1]
    assert len(arc) == 14  # 59°, 64°, … every 5°, and 121°
    for vertex in arc:
        assert metres(HERE, vertex) == pytest.approx(100, abs=0.02)  # GeoJSON keeps ~1 cm
    first, last = (GEOD.inv(*HERE, *vertex)[0] % 360 for vertex in (arc[0], arc[-1]))
    assert (first, last) == pytest.approx((59, 121), abs=0.01)


def test_an_all_round_camera_sector_is_a_circle():
    camera("dome", bearing=0, fov=360, range_m=60)
    ring = at_point(HERE)["cameras"]["covering"][0]["sector"]["coordinates"][0]
    assert len(ring) == 73  # every 5°, closed
    assert ring[0] == ring[-1]
    for vertex in ring:
        assert metres(HERE, vertex) == pytest.approx(60, abs=0.02)


def test_a_blind_spot_lists_the_cameras_within_camera_radius_nearest_first():
    camera("away-250", at=moved(HERE, 90, 250), bearing=90, fov=60, range_m=100)
    camera("away-100", at=moved(HERE, 0, 100), bearing=0, fov=60, range_m=90, status="offline")
    camera("away-400", at=moved(HERE, 180, 400), bearing=180, fov=60, range_m=100)
    cameras = at_point(HERE, camera_radius_m=300)["cameras"]
    assert cameras["blind_spot"] is True
    assert cameras["covering"] == []
    assert [(c["code"], c["status"]) for c in cameras["nearby"]] == [
        ("away-100", "offline"),
        ("away-250", "online"),
    ]
    assert cameras["nearby"][0]["distance_m"] == pytest.approx(100, abs=0.06)
    assert cameras["nearby"][0]["sector"]["type"] == "Polygon"


def test_a_blind_spot_lists_only_the_nearest_few_cameras(monkeypatch):
    monkeypatch.setattr("layers.services.dispatch.NEARBY_CAMERAS_MAX", 2)
    for metres in (120, 60, 180):
        camera(f"away-{metres}", at=moved(HERE, 90, metres), bearing=90, fov=60, range_m=50)
    cameras = at_point(HERE, camera_radius_m=300)["cameras"]
    assert [c["code"] for c in cameras["nearby"]] == ["away-60", "away-120"]


def test_a_blind_spot_with_no_camera_within_camera_radius_has_no_nearby_cameras():
    camera("away-250", at=moved(HERE, 90, 250), bearing=90, fov=60, range_m=100)
    cameras = at_point(HERE, camera_radius_m=200)["cameras"]
    assert cameras == {"covering": [], "nearby": [], "blind_spot": True}


# --- households ---------------------------------------------------------------------------------


def building_at(lonlat, size=0.0001) -> Building:
    lon, lat = lonlat
    return Building.objects.create(footprint=box(lon, lat, lon + size, lat + size / 2))


def household(lonlat, color: str, **kw) -> Household:
    storage = building_at((0.5, 0.5))  # far away: only the household's own location counts
    return Household.objects.create(
        building=storage, location=Point(*lonlat, srid=4326), color=color, **kw
    )


def test_red_and_orange_households_within_the_radius_are_counted_in_metres_not_degrees():
    # 190 m east is 0.0022° of longitude (247 m if taken as 111 km a degree): counted.
    household(moved(HERE, 90, 190), "red")
    household(moved(HERE, 90, 210), "red")
    # 210 m north is 0.0019° of latitude (161 m if taken as 85 km a degree): not counted.
    household(moved(HERE, 0, 210), "orange")
    household(moved(HERE, 0, 190), "orange")
    household(moved(HERE, 180, 100), "orange")
    household(moved(HERE, 270, 10), "yellow")
    household(moved(HERE, 270, 20), "green")
    households = at_point(HERE, radius_m=200, user=user_with_role("dispatcher"))["households"]
    assert (households["radius_m"], households["red"], households["orange"]) == (200, 1, 2)
    assert [(p["color"], p["distance_m"]) for p in households["points"]] == [
        ("orange", pytest.approx(100, abs=0.06)),
        ("red", pytest.approx(190, abs=0.06)),
        ("orange", pytest.approx(190, abs=0.06)),
    ]
    assert households["points"][0]["point"] == pytest.approx(moved(HERE, 180, 100), abs=1e-7)


def test_a_household_without_a_location_is_placed_at_its_buildings_anchor():
    building = building_at(moved(HERE, 45, 120))
    Household.objects.create(building=building, color="red")
    Household.objects.create(building=building, color="orange")
    Household.objects.create(building=building, color="green")
    building.refresh_from_db()
    anchor = (building.anchor.x, building.anchor.y)
    households = at_point(HERE, user=user_with_role("dispatcher"))["households"]
    assert (households["red"], households["orange"]) == (1, 1)
    for found in households["points"]:
        assert found["point"] == pytest.approx(anchor, abs=1e-7)
        assert found["distance_m"] == pytest.approx(metres(HERE, anchor), abs=0.06)


def test_a_household_with_its_own_location_is_not_counted_at_its_building():
    near_building = building_at(moved(HERE, 0, 50))
    Household.objects.create(
        building=near_building, location=Point(*moved(HERE, 0, 500), srid=4326), color="red"
    )
    assert at_point(HERE)["households"]["red"] == 0


NAME, PHONE, ROOM = "欧阳秀英", "13912345678", "R-7731"


@pytest.fixture
def private_household():
    return household(moved(HERE, 90, 30), "red", head_name=NAME, head_phone=PHONE, room=ROOM)


def worker_of(unit, username: str) -> APIClient:
    user = user_with_role("grid_worker", username)
    StaffMember.objects.create(unit=unit, role="full_time_worker", name=username, user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_personal_fields_are_shown_to_the_grid_worker_of_the_households_grid(world):
    household(moved(INSIDE_G1, 270, 30), "red", head_name=NAME, head_phone=PHONE, room=ROOM)
    query = {"lon": INSIDE_G1[0], "lat": INSIDE_G1[1]}
    own = worker_of(world["g1"], "g1-worker").get("/api/dispatch/", query).json()
    [found] = own["households"]["points"]
    assert (found["head_name"], found["head_phone"], found["room"]) == (NAME, PHONE, ROOM)
    # A grid worker of another grid gets the counts, not where they live or who they are.
    other = worker_of(world["g3"], "g3-worker").get("/api/dispatch/", query)
    households = other.json()["households"]
    assert households["red"] == 1 and not households.get("points")
    assert NAME not in other.content.decode() and PHONE not in other.content.decode()


@pytest.mark.parametrize("role", ["dispatcher", "viewer"])
def test_personal_fields_are_absent_for_other_roles(private_household, api_as, role):
    response = api_as(role).get("/api/dispatch/", {"lon": HERE[0], "lat": HERE[1]})
    households = response.json()["households"]
    if role == "viewer":
        # Who may not see households at all gets how many, not where they are.
        assert "points" not in households and households["red"] + households["orange"] == 1
    else:
        [found] = households["points"]
        assert set(found) == {"point", "color", "distance_m"}
    text = response.content.decode()
    for value in (NAME, PHONE, ROOM, "head_name", "head_phone"):
        assert value not in text


# --- possible duplicates ------------------------------------------------------------------------


def incident(lonlat, category="noise", status="received", age=dt.timedelta(hours=1)) -> Incident:
    return Incident.objects.create(
        category=category,
        status=status,
        location=Point(*lonlat, srid=4326),
        reported_at=timezone.now() - age,
    )


def test_an_open_case_of_the_category_near_and_recent_is_a_possible_duplicate():
    farther = incident(moved(HERE, 90, 40), status="handling", age=dt.timedelta(hours=23))
    nearer = incident(moved(HERE, 0, 10))
    duplicates = at_point(HERE, category="noise")["duplicates"]
    assert [d["id"] for d in duplicates] == [nearer.id, farther.id]
    assert duplicates[0]["category"] == "noise"
    assert duplicates[0]["status"] == "received"
    assert duplicates[0]["distance_m"] == pytest.approx(10, abs=0.06)
    assert dt.datetime.fromisoformat(duplicates[0]["reported_at"]) == nearer.reported_at


@pytest.mark.parametrize(
    "unlike",
    [
        pytest.param({"status": "closed"}, id="closed"),
        pytest.param({"status": "rated"}, id="rated"),
        pytest.param({"status": "cancelled"}, id="cancelled"),
        pytest.param({"category": "parking"}, id="other_category"),
        pytest.param({"age": dt.timedelta(hours=25)}, id="25_hours_old"),
        pytest.param({"lonlat": moved(HERE, 90, 60)}, id="60_m_away"),
    ],
)
def test_a_case_that_is_finished_other_old_or_far_is_not_a_duplicate(unlike):
    incident(**{"lonlat": moved(HERE, 0, 10), **unlike})
    assert at_point(HERE, category="noise")["duplicates"] == []


def test_without_a_category_duplicates_are_not_looked_for():
    incident(moved(HERE, 0, 10))
    assert at_point(HERE)["duplicates"] is None


# --- the grid: edge distance, escalation, CRS ---------------------------------------------------


def distance_to_edge(point, a, b) -> float:
    """Geodesic metres from `point` to the segment a–b, by golden-section search along it."""
    lo, hi = 0.0, 1.0
    inv_phi = (5**0.5 - 1) / 2

    def along(t: float) -> float:
        return metres(point, (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])))

    for _ in range(80):
        m1, m2 = hi - inv_phi * (hi - lo), lo + inv_phi * (hi - lo)
        if along(m1) < along(m2):
            hi = m2
        else:
            lo = m1
    return along((lo + hi) / 2)


def ring_edges(xmin, ymin, xmax, ymax):
    corners = [(xmin, ymin), (xmax, ymin), (xmax, ymax), (xmin, ymax), (xmin, ymin)]
    return list(itertools.pairwise(corners))


def test_edge_distance_is_metres_to_the_nearest_edge_of_the_grid(world):
    expected = min(distance_to_edge(INSIDE_G1, a, b) for a, b in ring_edges(98, 39, 98.002, 39.002))
    assert at_point(INSIDE_G1)["edge_distance_m"] == pytest.approx(expected, abs=0.06)
    assert expected == pytest.approx(17.3, abs=0.1)  # the east edge, 0.0002° of longitude


def test_edge_distance_counts_the_edge_of_a_hole_in_the_grid(world):
    inside_g2 = (98.00315, 39.00075)
    edges = ring_edges(98.002, 39, 98.004, 39.002) + ring_edges(*HOLE_A)
    expected = min(distance_to_edge(inside_g2, a, b) for a, b in edges)
    answer = at_point(inside_g2)
    assert answer["units"]["grid"]["code"] == world["g2"].code
    assert answer["edge_distance_m"] == pytest.approx(expected, abs=0.06)
    assert expected < 15  # hole A's east edge, not the outer ring


def test_edge_distance_is_null_outside_every_grid(world):
    assert at_point((98.0036, 39.0014))["edge_distance_m"] is None  # a coverage gap
    assert at_point((100.0, 30.0))["edge_distance_m"] is None


def test_escalation_goes_grid_node_segment_network_with_every_contact(world):
    StaffMember.objects.create(unit=world["node"], role="community_lead", name="王芳", phone="139")
    StaffMember.objects.create(unit=world["segment"], role="grid_instructor", name="赵强", phone="")
    answer = at_point(INSIDE_G1)
    escalation = answer["escalation"]
    assert [step["level"] for step in escalation] == ["grid", "node", "segment", "network"]
    assert [step["unit"]["code"] for step in escalation] == [
        G1,
        world["node"].code,
        world["segment"].code,
        world["network"].code,
    ]
    assert escalation[0]["contacts"] == answer["staff"]
    assert [(c["role"], c["role_label"], c["name"]) for c in escalation[0]["contacts"]] == [
        ("full_time_worker", "专职网格员", "李娜"),
        ("grid_leader", "网格长", "张伟"),
    ]
    assert escalation[1]["contacts"] == [
        {"role": "community_lead", "role_label": "社区负责人", "name": "王芳", "phone": "139"}
    ]
    assert escalation[2]["contacts"][0]["name"] == "赵强"
    assert escalation[3]["contacts"] == []


def test_escalation_in_a_coverage_gap_starts_at_the_node(world):
    answer = at_point((98.0036, 39.0014))
    assert answer["escalation"][0] == {"level": "grid", "unit": None, "contacts": []}
    assert answer["escalation"][1]["unit"]["code"] == world["node"].code
    assert "coverage gap" in answer["reason"]


@pytest.mark.parametrize("crs", ["wgs84", "cgcs2000", "gcj02", "bd09"])
def test_every_crs_resolves_the_same_chain_and_cameras(world, viewer_api, crs):
    camera("g1-east", at=moved(INSIDE_G1, 270, 30), bearing=90, fov=40, range_m=60)
    reference = viewer_api.get("/api/dispatch/", {"lon": INSIDE_G1[0], "lat": INSIDE_G1[1]}).json()
    lon, lat = coords.from_wgs84(*INSIDE_G1, crs)
    body = viewer_api.get("/api/dispatch/", {"lon": lon, "lat": lat, "crs": crs}).json()
    if crs in ("gcj02", "bd09"):
        assert metres(INSIDE_G1, (lon, lat)) > 50  # read as WGS84 it would be elsewhere
    assert body["point"] == pytest.approx(list(INSIDE_G1), abs=1e-7)
    assert body["conversion"]["crs"] == crs
    assert body["units"]["grid"]["code"] == G1
    for key in ("units", "escalation", "staff", "edge_distance_m"):
        assert body[key] == reference[key]
    assert [c["code"] for c in body["cameras"]["covering"]] == ["g1-east"]


# --- the API: parameters, errors, permissions ---------------------------------------------------


def test_the_api_answers_with_point_conversion_and_defaults(world, viewer_api):
    body = viewer_api.get("/api/dispatch/", {"lon": INSIDE_G1[0], "lat": INSIDE_G1[1]}).json()
    assert body["point"] == list(INSIDE_G1)
    assert body["conversion"]["applied"] == "none"
    assert body["households"]["radius_m"] == 200
    assert body["duplicates"] is None
    assert body["reason"] is None
    assert set(body) == {
        "point",
        "conversion",
        "units",
        "reason",
        "staff",
        "escalation",
        "edge_distance_m",
        "cameras",
        "households",
        "duplicates",
    }


def test_the_api_finds_duplicates_of_the_given_category(world, viewer_api):
    case = incident(moved(INSIDE_G1, 0, 10), category="parking")
    params = {"lon": INSIDE_G1[0], "lat": INSIDE_G1[1], "category": "parking", "radius": 50}
    body = viewer_api.get("/api/dispatch/", params).json()
    assert [d["id"] for d in body["duplicates"]] == [case.id]
    assert body["households"]["radius_m"] == 50


@pytest.mark.parametrize(
    ("params", "error", "where"),
    [
        pytest.param({"radius": 0}, "invalid_radius", "radius", id="radius_0"),
        pytest.param({"radius": 2001}, "invalid_radius", "radius", id="radius_2001"),
        pytest.param({"radius": "abc"}, "invalid_radius", "radius", id="radius_text"),
        pytest.param({"radius": "nan"}, "invalid_radius", "radius", id="radius_nan"),
        pytest.param({"radius": -5}, "invalid_radius", "radius", id="radius_negative"),
        pytest.param({"camera_radius": 0.5}, "invalid_camera_radius", "camera_radius", id="cr_0.5"),
        pytest.param(
            {"camera_radius": 5001}, "invalid_camera_radius", "camera_radius", id="cr_5001"
        ),
        pytest.param(
            {"camera_radius": "inf"}, "invalid_camera_radius", "camera_radius", id="cr_inf"
        ),
        pytest.param({"category": "fire"}, "invalid_category", "category", id="category"),
        pytest.param({"lon": None}, "missing_parameter", "lon", id="missing_lon"),
        pytest.param({"lat": 91}, "invalid_coordinates", "lat", id="lat_91"),
        pytest.param({"lon": "x"}, "invalid_coordinates", "lon", id="lon_text"),
        pytest.param({"crs": "mars"}, "unknown_crs", "crs", id="crs"),
    ],
)
def test_bad_parameters_get_400_saying_where(world, viewer_api, params, error, where):
    query = {"lon": INSIDE_G1[0], "lat": INSIDE_G1[1], **params}
    response = viewer_api.get("/api/dispatch/", {k: v for k, v in query.items() if v is not None})
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["where"]) == (error, where)
    assert " / " in body["detail"]


def test_the_limits_of_the_radii_are_allowed(world, viewer_api):
    for radius, camera_radius in ((1, 1), (2000, 5000)):
        params = {"lon": 98.001, "lat": 39.001, "radius": radius, "camera_radius": camera_radius}
        assert viewer_api.get("/api/dispatch/", params).status_code == 200


DISPATCH_URLS = [
    "/api/dispatch/?lon=98.001&lat=39.001",
    "/api/dispatch/cameras/?bbox=98,39,98.01,39.01",
]


@pytest.mark.parametrize("url", DISPATCH_URLS)
def test_an_anonymous_request_gets_401(world, url):
    response = APIClient().get(url)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


@pytest.mark.parametrize("url", DISPATCH_URLS)
def test_a_user_without_a_role_gets_403(world, api_as, url):
    response = api_as(None).get(url)
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"


def test_dispatch_needs_view_incident_and_the_sector_layer_view_camera(world):
    user = user_with_role(None, "camera-only")
    user.user_permissions.add(Permission.objects.get(codename="view_camera"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert client.get(DISPATCH_URLS[0]).status_code == 403
    assert client.get(DISPATCH_URLS[1]).status_code == 200


# --- the sector layer ---------------------------------------------------------------------------


def sectors(client, bbox: str) -> dict:
    response = client.get("/api/dispatch/cameras/", {"bbox": bbox})
    assert response.status_code == 200
    return response.json()


def test_the_sector_layer_gives_each_camera_in_the_box_as_a_polygon(world, viewer_api):
    made = camera("g1-east", at=INSIDE_G1, bearing=90, fov=40, range_m=60, name="东门")
    body = sectors(viewer_api, "97.999,38.999,98.007,39.003")
    assert body["truncated"] is False
    [feature] = body["features"]
    assert feature["id"] == made.id
    assert feature["geometry"]["type"] == "Polygon"
    assert feature["geometry"]["coordinates"][0][0] == pytest.approx(list(INSIDE_G1), abs=1e-7)
    assert feature["properties"] == {
        "id": made.id,
        "code": "g1-east",
        "name": "东门",
        "status": "online",
        "bearing": 90,
        "fov": 40,
        "range_m": 60,
        "grid_code": G1,
    }


def test_a_camera_outside_the_box_is_drawn_when_its_sector_reaches_in(world, viewer_api):
    west_of_box = moved((97.999, 39.001), 270, 30)
    camera("looks-in", at=west_of_box, bearing=90, fov=40, range_m=100)
    camera("looks-away", at=west_of_box, bearing=270, fov=40, range_m=100)
    body = sectors(viewer_api, "97.999,38.999,98.007,39.003")
    assert [f["properties"]["code"] for f in body["features"]] == ["looks-in"]


def test_the_sector_layer_is_capped_and_says_truncated(world, viewer_api, monkeypatch):
    monkeypatch.setattr(maplayers, "MAX_FEATURES", 2)
    for i in range(3):
        camera(f"c{i}", at=moved(INSIDE_G1, 90, 10 * i))
    body = sectors(viewer_api, "97.999,38.999,98.007,39.003")
    assert body["truncated"] is True
    assert len(body["features"]) == 2


def test_the_sector_layer_without_a_bbox_gets_400(world, viewer_api):
    response = viewer_api.get("/api/dispatch/cameras/")
    assert response.status_code == 400
    assert response.json()["error"] == "missing_parameter"
