"""Specification of the case API (/api/incidents/, docs/dispatch.md "Cases"): opening a case,
its detail and timeline, transitions over HTTP with their refusals, photos, escalation,
duplicate reports, the GeoJSON list and its filters, counts per unit, and who may do what."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from gridmap import coords
from gridmap.models import StaffMember
from layers.models import Incident, IncidentTransition
from layers.services import photos
from tests.conftest import G1, G2, G3, NODE, SEGMENT

pytestmark = pytest.mark.django_db

S = Incident.Status
SHANGHAI = ZoneInfo("Asia/Shanghai")
IN_G1 = Point(98.001, 39.001, srid=4326)
IN_G2 = Point(98.003, 39.0018, srid=4326)
IN_G3 = Point(98.005, 39.001, srid=4326)
IN_NO_GRID = Point(98.0036, 39.0014, srid=4326)  # hole B of G2
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def member(role: str | None, username: str) -> User:
    """A user with a role and no password (hashing one costs a quarter of a second)."""
    user = User.objects.create(username=username)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def people(world) -> dict[str, User]:
    users = {
        "dispatcher": member("dispatcher", "dispatcher"),
        "grid_staff": member("grid_worker", "g1-worker"),
        "grid_worker": member("grid_worker", "other-worker"),
        "viewer": member("viewer", "viewer"),
        "nobody": member(None, "nobody"),
    }
    StaffMember.objects.create(
        unit=world["g1"], role="full_time_worker", name="王芳", user=users["grid_staff"]
    )
    return users


@pytest.fixture
def api(people):
    """api("dispatcher") → a client signed in as that person."""

    def make(who: str) -> APIClient:
        client = APIClient()
        client.force_authenticate(people[who])
        return client

    return make


def case(
    status: str = S.RECEIVED,
    where: Point = IN_G1,
    category: str = Incident.Category.ENVIRONMENT,
    **fields,
) -> Incident:
    incident = Incident.objects.create(category=category, location=where, **fields)
    Incident.objects.filter(pk=incident.pk).update(status=status)
    incident.refresh_from_db()
    return incident


def url(incident: Incident, tail: str = "") -> str:
    return f"/api/incidents/{incident.pk}/{tail}"


def ids(body: dict) -> set[int]:
    assert body["type"] == "FeatureCollection"
    return {f["id"] for f in body["features"]}


# --- access -------------------------------------------------------------------------------------


def test_reading_cases_needs_a_login_and_then_the_view_permission(api, people):
    incident = case()
    paths = ["/api/incidents/", "/api/incidents/counts/", url(incident)]
    for path in paths:
        assert APIClient().get(path).status_code == 401, path
        response = api("nobody").get(path)
        assert response.status_code == 403, path
        assert response.json()["error"] == "permission_denied"
        assert api("viewer").get(path).status_code == 200, path


def test_opening_a_case_needs_the_add_permission(api):
    body = {"category": "noise", "lon": 98.001, "lat": 39.001}
    assert APIClient().post("/api/incidents/", body, format="json").status_code == 401
    assert api("viewer").post("/api/incidents/", body, format="json").status_code == 403
    assert api("grid_worker").post("/api/incidents/", body, format="json").status_code == 201
    assert Incident.objects.count() == 1


def test_changing_a_case_needs_a_login(people):
    incident = case()
    for tail, body in [("transition/", {"action": "verify"}), ("escalate/", {"reason": "x"})]:
        assert APIClient().post(url(incident, tail), body, format="json").status_code == 401
    assert APIClient().post(url(incident, "reports/"), {}, format="json").status_code == 401
    incident.refresh_from_db()
    assert (incident.status, incident.level) == (S.RECEIVED, "grid")


def test_an_unknown_case_is_404_in_the_error_shape(api):
    response = api("viewer").get("/api/incidents/999999/")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


# --- opening a case -----------------------------------------------------------------------------


def test_a_case_opened_at_a_gcj02_point_lands_in_its_grid_and_answers_with_the_chain(api, world):
    lon, lat = coords.from_wgs84(98.001, 39.001, "gcj02")
    response = api("grid_staff").post(
        "/api/incidents/",
        {
            "category": "environment",
            "description": " 垃圾堆放 ",
            "lon": lon,
            "lat": lat,
            "crs": "gcj02",
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["point"] == pytest.approx([98.001, 39.001], abs=1e-5)
    assert body["conversion"]["crs"] == "gcj02"
    assert {level: (u or {}).get("code") for level, u in body["units"].items()} == {
        "grid": G1,
        "node": NODE,
        "segment": SEGMENT,
        "network": "620200",
    }
    assert body["units"]["grid"]["name"] == "第一网格"
    assert (body["grid_code"], body["reported_grid_code"]) == (G1, G1)
    assert (body["status"], body["status_label"], body["level"]) == ("received", "接单受理", "grid")
    assert (body["category_label"], body["description"]) == ("市容环境", "垃圾堆放")
    assert body["deadline"] is None and body["overdue"] is False
    assert body["allowed_actions"] == ["verify", "escalate"]
    (opened,) = body["timeline"]
    assert (opened["action"], opened["from_status"], opened["to_status"]) == (
        "open",
        None,
        "received",
    )
    assert opened["user"] == "g1-worker"
    incident = Incident.objects.get(pk=body["id"])
    assert (incident.grid, incident.reported_grid) == (world["g1"], world["g1"])


@pytest.mark.parametrize(
    ("body", "error", "where"),
    [
        ({"category": "noise", "lat": 39.001}, "missing_parameter", "lon"),
        ({"category": "noise", "lon": "东经", "lat": 39.001}, "invalid_coordinates", "lon"),
        ({"category": "noise", "lon": 98.001, "lat": 91}, "invalid_coordinates", "lat"),
        ({"category": "noise", "lon": 98.001, "lat": 39.001, "crs": "utm"}, "unknown_crs", "crs"),
        ({"category": "fire", "lon": 98.001, "lat": 39.001}, "invalid", "category"),
        ({"lon": 98.001, "lat": 39.001}, "invalid", "category"),
    ],
)
def test_opening_a_case_with_bad_input_says_what_is_wrong(api, body, error, where):
    response = api("dispatcher").post("/api/incidents/", body, format="json")
    assert response.status_code == 400
    assert (response.json()["error"], response.json()["where"]) == (error, where)
    assert " / " in response.json()["detail"]
    assert not Incident.objects.exists()


def test_a_case_outside_every_grid_is_opened_with_an_empty_chain(api):
    response = api("dispatcher").post(
        "/api/incidents/",
        {"category": "noise", "lon": IN_NO_GRID.x, "lat": IN_NO_GRID.y},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["units"]["grid"] is None
    assert (body["grid_code"], body["reported_grid_code"]) == (None, None)


# --- detail and transitions ---------------------------------------------------------------------


def test_the_detail_lists_the_actions_of_the_requesting_user(api):
    incident = case(S.FEEDBACK)
    allowed = {
        who: api(who).get(url(incident)).json()["allowed_actions"]
        for who in ("dispatcher", "grid_staff", "grid_worker", "viewer")
    }
    assert allowed == {
        "dispatcher": ["close", "send_back", "escalate"],
        "grid_staff": ["escalate"],
        "grid_worker": [],
        "viewer": [],
    }


def test_grid_staff_verify_a_case_of_their_grid_over_http(api):
    incident = case()
    response = api("grid_staff").post(
        url(incident, "transition/"), {"action": "verify", "note": "已到现场"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "verified"
    entry = body["timeline"][-1]
    assert (entry["action"], entry["from_status"], entry["to_status"]) == (
        "verify",
        "received",
        "verified",
    )
    assert (entry["user"], entry["note"], entry["photo"]) == ("g1-worker", "已到现场", None)
    assert dt.datetime.fromisoformat(entry["at"]).utcoffset() == dt.timedelta(hours=8)


def test_an_illegal_transition_answers_409_with_the_status_and_the_allowed_actions(api):
    incident = case()
    response = api("grid_staff").post(
        url(incident, "transition/"), {"action": "start"}, format="json"
    )
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "illegal_transition"
    assert body["where"] == {"status": "received", "allowed": ["verify", "escalate"]}
    assert "start" in body["detail"] and " / " in body["detail"]


def test_an_action_the_user_may_not_take_answers_403(api):
    incident = case()
    response = api("grid_staff").post(
        url(incident, "transition/"), {"action": "cancel", "note": "重复"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"] == "not_permitted"
    incident.refresh_from_db()
    assert incident.status == S.RECEIVED


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"action": "approve"}, "action"),
        ({}, "action"),
        ({"action": "extend", "note": "等待", "hours": "many"}, "hours"),
        ({"action": "extend", "hours": 3}, "note"),
    ],
)
def test_a_malformed_transition_is_400(api, body, where):
    incident = case(S.HANDLING, deadline=timezone.now())
    response = api("dispatcher").post(url(incident, "transition/"), body, format="json")
    assert response.status_code == 400
    assert response.json()["where"] == where


def test_dispatch_over_http_sets_the_department_and_the_deadline_of_the_category(api):
    incident = case(S.VERIFIED, category="emergency")
    before = timezone.now()
    response = api("dispatcher").post(
        url(incident, "transition/"),
        {"action": "dispatch", "department": "应急管理所"},
        format="json",
    )
    body = response.json()
    assert (body["status"], body["department"]) == ("dispatched", "应急管理所")
    deadline = dt.datetime.fromisoformat(body["deadline"])
    assert dt.timedelta(hours=2) <= deadline - before < dt.timedelta(hours=2, minutes=1)
    assert body["timeline"][-1]["data"]["department"] == "应急管理所"


def test_an_extension_over_http_moves_the_deadline(api):
    deadline = timezone.now() + dt.timedelta(hours=1)
    incident = case(S.HANDLING, deadline=deadline)
    response = api("grid_staff").post(
        url(incident, "transition/"),
        {"action": "extend", "hours": 24, "note": "等待配件"},
        format="json",
    )
    assert response.status_code == 200
    assert dt.datetime.fromisoformat(response.json()["deadline"]) == deadline + dt.timedelta(
        hours=24
    )


# --- photos -------------------------------------------------------------------------------------


def feedback_with_photo(api, content: bytes = JPEG, name: str = "整改后.jpg"):
    incident = case(S.HANDLING, deadline=timezone.now() + dt.timedelta(hours=3))
    response = api("grid_staff").post(
        url(incident, "transition/"),
        {"action": "feedback", "note": "已清理", "photo": SimpleUploadedFile(name, content)},
        format="multipart",
    )
    return incident, response


def test_a_transition_with_a_photo_is_accepted_and_the_photo_read_back_by_signed_in_users(api):
    incident, response = feedback_with_photo(api)
    assert response.status_code == 200
    entry = response.json()["timeline"][-1]
    assert entry["action"] == "feedback"
    photo_url = entry["photo"]
    assert photo_url == f"/api/incidents/{incident.pk}/photos/{entry['id']}/"
    for who in ("viewer", "dispatcher"):
        photo = api(who).get(photo_url, HTTP_ACCEPT="image/*")
        assert photo.status_code == 200
        assert photo["Content-Type"] == "image/jpeg"
        assert photo["X-Content-Type-Options"] == "nosniff"
        assert b"".join(photo.streaming_content) == JPEG
    assert APIClient().get(photo_url).status_code == 401
    assert api("nobody").get(photo_url).status_code == 403


def test_a_photo_is_not_under_a_public_url(api, settings):
    _incident, response = feedback_with_photo(api)
    entry = IncidentTransition.objects.get(pk=response.json()["timeline"][-1]["id"])
    assert (settings.MEDIA_ROOT / entry.photo.name).is_file()
    assert APIClient().get(settings.MEDIA_URL + entry.photo.name).status_code == 404


def test_a_photo_is_found_only_under_its_own_case_and_entry(api):
    incident, response = feedback_with_photo(api)
    entry_id = response.json()["timeline"][-1]["id"]
    other = case()
    assert api("viewer").get(f"/api/incidents/{other.pk}/photos/{entry_id}/").status_code == 404
    no_photo = IncidentTransition.objects.create(
        incident=incident, action="report", to_status=S.HANDLING, to_level="grid"
    )
    response = api("viewer").get(f"/api/incidents/{incident.pk}/photos/{no_photo.pk}/")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_a_png_photo_is_served_as_png(api):
    _incident, response = feedback_with_photo(api, PNG, "photo.bin")
    photo = api("viewer").get(response.json()["timeline"][-1]["photo"])
    assert photo["Content-Type"] == "image/png"


@pytest.mark.parametrize(
    ("content", "name", "error"),
    [
        (b"%PDF-1.7 not a photo", "照片.jpg", "photo_not_an_image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "x.svg", "photo_not_an_image"),
        (JPEG + b"\x00" * photos.MAX_BYTES, "big.jpg", "photo_too_large"),
    ],
    ids=["pdf-named-jpg", "svg", "over-10-MB"],
)
def test_an_upload_that_is_not_an_image_or_too_large_is_refused_and_changes_nothing(
    api, content, name, error
):
    incident, response = feedback_with_photo(api, content, name)
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["where"]) == (error, "photo")
    assert " / " in body["detail"]
    incident.refresh_from_db()
    assert incident.status == S.HANDLING
    assert not incident.transitions.exists()


# --- escalation and duplicate reports -----------------------------------------------------------


def test_escalation_over_http(api):
    incident = case(S.HANDLING)
    response = api("grid_staff").post(
        url(incident, "escalate/"), {"reason": "需社区协调"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["level"] == "node"
    assert body["allowed_actions"] == []
    entry = body["timeline"][-1]
    assert (entry["action"], entry["from_level"], entry["to_level"], entry["note"]) == (
        "escalate",
        "grid",
        "node",
        "需社区协调",
    )
    assert (
        api("grid_staff").post(url(incident, "escalate/"), {"reason": "再"}, format="json")
    ).status_code == 403
    for _ in range(2):
        api("dispatcher").post(url(incident, "escalate/"), {"reason": "上报"}, format="json")
    response = api("dispatcher").post(url(incident, "escalate/"), {"reason": "再"}, format="json")
    assert response.status_code == 409
    assert response.json()["where"]["status"] == "handling"


def test_escalation_needs_a_reason(api):
    response = api("dispatcher").post(url(case(), "escalate/"), {}, format="json")
    assert response.status_code == 400
    assert response.json()["where"] == "reason"


def test_a_duplicate_report_joins_the_case_timeline(api):
    incident = case(S.DISPATCHED, deadline=timezone.now() + dt.timedelta(hours=3))
    response = api("grid_worker").post(
        url(incident, "reports/"),
        {"note": "又有居民反映", "photo": SimpleUploadedFile("a.png", PNG)},
        format="multipart",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "dispatched"
    entry = body["timeline"][-1]
    assert (entry["action"], entry["user"], entry["note"]) == (
        "report",
        "other-worker",
        "又有居民反映",
    )
    assert entry["photo"] is not None
    assert api("viewer").post(url(incident, "reports/"), {}, format="json").status_code == 403
    finished = case(S.CLOSED)
    response = api("grid_worker").post(url(finished, "reports/"), {"note": "x"}, format="json")
    assert response.status_code == 409
    assert response.json()["where"] == {"status": "closed", "allowed": []}


# --- the list -----------------------------------------------------------------------------------


@pytest.fixture
def listed(world) -> dict[str, Incident]:
    now = timezone.now()
    return {
        "g1_new": case(S.RECEIVED, IN_G1, "noise"),
        "g1_late": case(S.HANDLING, IN_G1, "environment", deadline=now - dt.timedelta(hours=1)),
        "g2_due": case(S.DISPATCHED, IN_G2, "parking", deadline=now + dt.timedelta(hours=5)),
        "g3_closed": case(S.CLOSED, IN_G3, "noise", deadline=now - dt.timedelta(days=1)),
        "nowhere": case(S.RECEIVED, IN_NO_GRID, "emergency"),
    }


def test_the_list_is_geojson_with_the_case_properties(api, listed):
    response = api("viewer").get("/api/incidents/")
    assert response.status_code == 200
    body = response.json()
    assert ids(body) == {c.pk for c in listed.values()}
    assert body["truncated"] is False
    feature = next(f for f in body["features"] if f["id"] == listed["g1_late"].pk)
    assert feature["geometry"] == {"type": "Point", "coordinates": [98.001, 39.001]}
    props = feature["properties"]
    assert {k: v for k, v in props.items() if k not in ("deadline", "reported_at")} == {
        "id": listed["g1_late"].pk,
        "category": "environment",
        "category_label": "市容环境",
        "status": "handling",
        "status_label": "任务处理",
        "level": "grid",
        "overdue": True,
        "department": "",
        "grid_code": G1,
        "reported_grid_code": G1,
    }
    detail = api("viewer").get(url(listed["g1_late"])).json()
    for key in ("deadline", "reported_at"):
        assert dt.datetime.fromisoformat(props[key]) == dt.datetime.fromisoformat(detail[key])
        assert dt.datetime.fromisoformat(props[key]).utcoffset() == dt.timedelta(hours=8)


def test_the_list_shows_the_newest_report_first(api, world):
    old = case(reported_at=timezone.now() - dt.timedelta(days=2))
    new = case(reported_at=timezone.now())
    features = api("viewer").get("/api/incidents/").json()["features"]
    assert [f["id"] for f in features] == [new.pk, old.pk]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "received"}, {"g1_new", "nowhere"}),
        ({"status": "handling,dispatched"}, {"g1_late", "g2_due"}),
        ({"category": "noise"}, {"g1_new", "g3_closed"}),
        ({"overdue": "true"}, {"g1_late"}),
        ({"overdue": "false"}, {"g1_new", "g2_due", "g3_closed", "nowhere"}),
        ({"bbox": "98.0,38.999,98.002,39.003"}, {"g1_new", "g1_late"}),
        ({"status": "received", "category": "emergency"}, {"nowhere"}),
    ],
)
def test_the_list_filters(api, listed, query, expected):
    body = api("viewer").get("/api/incidents/", query).json()
    assert ids(body) == {listed[name].pk for name in expected}


def test_the_list_filters_by_unit_through_the_code_of_the_current_grid(api, world, listed):
    def listed_in(level: str, unit: str) -> set[int]:
        return ids(api("viewer").get("/api/incidents/", {level: world[unit].pk}).json())

    assert listed_in("grid", "g1") == {listed["g1_new"].pk, listed["g1_late"].pk}
    assert listed_in("grid", "g3") == {listed["g3_closed"].pk}
    in_grids = {c.pk for name, c in listed.items() if name != "nowhere"}
    assert listed_in("node", "node") == in_grids
    assert listed_in("segment", "segment") == in_grids


def test_the_list_filters_by_level(api, listed):
    Incident.objects.filter(pk=listed["g2_due"].pk).update(level="segment")
    assert ids(api("viewer").get("/api/incidents/", {"level": "segment"}).json()) == {
        listed["g2_due"].pk
    }


def test_the_list_filters_by_report_date_in_beijing_time(api, world):
    late_evening = case(reported_at=dt.datetime(2026, 3, 1, 23, 30, tzinfo=SHANGHAI))
    after_midnight = case(reported_at=dt.datetime(2026, 3, 2, 0, 30, tzinfo=SHANGHAI))
    next_day = case(reported_at=dt.datetime(2026, 3, 3, 12, 0, tzinfo=SHANGHAI))

    def between(**query) -> set[int]:
        return ids(api("viewer").get("/api/incidents/", query).json())

    assert between(**{"from": "2026-03-02", "to": "2026-03-02"}) == {after_midnight.pk}
    assert between(**{"to": "2026-03-01"}) == {late_evening.pk}
    assert between(**{"from": "2026-03-02"}) == {after_midnight.pk, next_day.pk}


@pytest.mark.parametrize(
    ("query", "error", "where"),
    [
        ({"status": "open"}, "invalid_status", "status"),
        ({"category": "noise,fire"}, "invalid_category", "category"),
        ({"overdue": "yes"}, "invalid_overdue", "overdue"),
        ({"from": "2026-13-01"}, "invalid_date", "from"),
        ({"from": "2026-03-05", "to": "2026-03-01"}, "invalid_date", "from"),
        ({"level": "district"}, "invalid_level", "level"),
        ({"grid": "G1"}, "invalid_grid", "grid"),
        ({"bbox": "98,39,97,40"}, "invalid_bbox", "bbox"),
    ],
)
def test_a_malformed_filter_is_400_saying_which(api, listed, query, error, where):
    response = api("viewer").get("/api/incidents/", query)
    assert response.status_code == 400
    assert (response.json()["error"], response.json()["where"]) == (error, where)
    assert " / " in response.json()["detail"]


def test_a_unit_filter_naming_a_unit_of_another_level_is_404(api, world):
    response = api("viewer").get("/api/incidents/", {"grid": world["node"].pk})
    assert response.status_code == 404
    assert response.json()["where"] == "grid"


# --- counts -------------------------------------------------------------------------------------


def test_counts_per_grid_node_and_segment(api, world, listed):
    by_grid = api("viewer").get("/api/incidents/counts/", {"by": "grid"}).json()
    rows = {row["code"]: row for row in by_grid["units"]}
    assert set(rows) == {G1, G2, G3}
    assert rows[G1] == {
        "id": world["g1"].pk,
        "code": G1,
        "name": "第一网格",
        "total": 2,
        "open": 2,
        "overdue": 1,
        "by_status": {"received": 1, "handling": 1},
    }
    assert (rows[G3]["total"], rows[G3]["open"], rows[G3]["overdue"]) == (1, 0, 0)
    assert by_grid["unassigned"] == 1
    (node,) = api("viewer").get("/api/incidents/counts/", {"by": "node"}).json()["units"]
    assert (node["code"], node["total"], node["open"], node["overdue"]) == (NODE, 4, 3, 1)
    assert node["by_status"] == {"received": 1, "handling": 1, "dispatched": 1, "closed": 1}
    (segment,) = api("viewer").get("/api/incidents/counts/", {"by": "segment"}).json()["units"]
    assert (segment["id"], segment["total"]) == (world["segment"].pk, 4)


def test_counts_for_a_period(api, world):
    case(reported_at=dt.datetime(2026, 3, 1, 23, 30, tzinfo=SHANGHAI))
    case(where=IN_G2, reported_at=dt.datetime(2026, 3, 2, 0, 30, tzinfo=SHANGHAI))
    body = (
        api("viewer")
        .get("/api/incidents/counts/", {"by": "grid", "from": "2026-03-02", "to": "2026-03-31"})
        .json()
    )
    assert (body["by"], body["from"], body["to"]) == ("grid", "2026-03-02", "2026-03-31")
    assert [(row["code"], row["total"]) for row in body["units"]] == [(G2, 1)]


def test_counts_default_to_the_current_month(api, world):
    case()  # now
    case(where=IN_G2, reported_at=timezone.now() - dt.timedelta(days=40))
    body = api("viewer").get("/api/incidents/counts/").json()
    assert body["from"] == timezone.localdate().replace(day=1).isoformat()
    assert [(row["code"], row["total"]) for row in body["units"]] == [(G1, 1)]
    everything = api("viewer").get("/api/incidents/counts/", {"period": "all"}).json()
    assert sorted(row["code"] for row in everything["units"]) == [G1, G2]


def test_counts_refuse_an_unknown_grouping(api, world):
    response = api("viewer").get("/api/incidents/counts/", {"by": "network"})
    assert response.status_code == 400
    assert response.json()["where"] == "by"


def test_the_case_paths_are_in_the_schema(admin_client):
    text = admin_client.get("/api/schema/").content.decode()
    for path in (
        "/api/incidents/",
        "/api/incidents/{id}/",
        "/api/incidents/{id}/transition/",
        "/api/incidents/{id}/escalate/",
        "/api/incidents/{id}/reports/",
        "/api/incidents/counts/",
        "/api/incidents/{id}/photos/{transition_id}/",
    ):
        assert f"{path}:" in text, path
