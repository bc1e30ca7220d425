"""The edit API: every operation over HTTP, refusals in the error shape with nothing changed,
preview vs commit, 409 on a stale version, history, restore, undo, and locate ?at=."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from shapely.geometry import box as sbox
from shapely.geometry import mapping

from gridmap.models import GridUnit, UnitEdit, UnitVersion
from tests.editing_world import N1, Y0, Y1, A, B, build_city, households_at
from tests.test_editing import bounds, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def city():
    return build_city()


@pytest.fixture
def planner(api_as):
    return api_as("planner")


def geojson(geom) -> dict:
    return {"type": geom.geom_type, "coordinates": mapping(geom)["coordinates"]}


def url(unit, op: str) -> str:
    return f"/api/units/{unit.pk}/{op}/"


def test_reshape_preview_then_commit_over_http(city, planner):
    households_at((98.0022, 39.001))
    body = {"version": 1, "geometry": geojson(sbox(98.000, Y0, 98.0025, Y1)), "preview": True}
    before = snapshot()
    preview = planner.post(url(city["a"], "reshape"), body, format="json")
    assert preview.status_code == 200, preview.json()
    assert snapshot() == before
    data = preview.json()
    assert data["preview"] is True and data["edit"] is None
    assert data["reassignment"]["household"]["pairs"] == [{"from": B, "to": A, "count": 1}]
    assert data["versions"][str(city["b"].pk)] == 1
    changed = {u["code"]: u for u in data["units"]}
    assert changed[A]["geometry"]["type"] == "MultiPolygon"

    commit = planner.post(
        url(city["a"], "reshape"),
        {**body, "preview": False, "versions": data["versions"]},
        format="json",
    )
    assert commit.status_code == 201, commit.json()
    result = commit.json()
    assert result["edit"]["id"] == UnitEdit.objects.get().pk
    for key in ("units", "reassignment", "load"):
        assert result[key] == data[key]


def test_stale_version_answers_409_with_the_current_version(city, planner):
    body = {"version": 1, "geometry": geojson(sbox(98.000, Y0, 98.0025, Y1))}
    assert planner.post(url(city["a"], "reshape"), body, format="json").status_code == 201
    before = snapshot()
    again = planner.post(url(city["a"], "reshape"), body, format="json")
    assert again.status_code == 409
    assert again.json()["error"] == "stale_version"
    assert again.json()["where"]["version"] == 2
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "status", "error", "where"),
    [
        pytest.param({"geometry": None}, 400, "invalid", "version", id="no_version"),
        pytest.param({"version": 1}, 400, "invalid", "geometry", id="no_geometry"),
        pytest.param(
            {"version": 1, "geometry": {"type": "Point", "coordinates": [98, 39]}},
            400,
            "invalid_request",
            "geometry",
            id="wrong_type",
        ),
        pytest.param(
            {"version": 1, "geometry": {"type": "Polygon", "coordinates": [[[1, 2]]]}},
            400,
            "invalid_request",
            "geometry",
            id="malformed",
        ),
        pytest.param(
            {
                "version": 1,
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[39.0, 98.0], [39.0, 98.002], [39.002, 98.002], [39.0, 98.0]]],
                },
            },
            400,
            "invalid_coordinates",
            None,
            id="lat_lon_swapped",
        ),
        pytest.param(
            {
                "version": 1,
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [98.000, 39.0],
                            [98.002, 39.002],
                            [98.002, 39.0],
                            [98.000, 39.002],
                            [98.000, 39.0],
                        ]
                    ],
                },
            },
            422,
            "invalid_geometry",
            None,
            id="self_intersecting",
        ),
        pytest.param(
            {"version": 1, "geometry": geojson(sbox(97.99, Y0, 98.002, Y1))},
            422,
            "outside_parent",
            None,
            id="outside_parent",
        ),
        pytest.param(
            {"version": 1, "geometry": geojson(sbox(98.0005, Y0, 98.002, Y1))},
            422,
            "gap",
            None,
            id="gap",
        ),
    ],
)
def test_every_refusal_names_the_problem_and_changes_nothing(
    city, planner, body, status, error, where
):
    before = snapshot()
    response = planner.post(url(city["a"], "reshape"), body, format="json")
    assert response.status_code == status, response.json()
    data = response.json()
    assert data["error"] == error
    assert " / " in data["detail"]  # Chinese / English
    if where is not None:
        assert data["where"] == where
    elif error in ("invalid_geometry", "outside_parent", "invalid_coordinates"):
        assert data["where"]["point"]
    elif error == "gap":
        assert data["where"]["gaps"][0]["area_m2"] > 1000
    assert snapshot() == before


def test_split_merge_transfer_over_http(city, planner):
    line = {"type": "LineString", "coordinates": [[98.001, 38.999], [98.001, 39.003]]}
    split = planner.post(
        url(city["a"], "split"), {"version": 1, "line": line, "name": "新"}, format="json"
    )
    assert split.status_code == 201, split.json()
    new = GridUnit.objects.get(code=f"{N1}003")
    merge = planner.post(
        url(city["a"], "merge"), {"version": 2, "other": new.pk, "other_version": 1}, format="json"
    )
    assert merge.status_code == 201, merge.json()
    assert bounds(A) == (98.0, Y0, 98.002, Y1)
    transfer = planner.post(
        url(city["a"], "transfer"),
        {"version": 3, "area": geojson(sbox(98.0015, Y0, 98.0025, Y1))},
        format="json",
    )
    assert transfer.status_code == 201, transfer.json()
    assert bounds(B) == (98.0025, Y0, 98.004, Y1)


def test_only_planners_may_edit(city, api_as):
    body = {"version": 1, "geometry": geojson(sbox(98.000, Y0, 98.0025, Y1)), "preview": True}
    for role in ("viewer", "dispatcher", "grid_worker"):
        response = api_as(role).post(url(city["a"], "reshape"), body, format="json")
        assert response.status_code == 403, role
    assert api_as(None).post(url(city["a"], "reshape"), body, format="json").status_code == 403


def test_unknown_unit_is_404(city, planner):
    body = {"version": 1, "geometry": geojson(sbox(98.000, Y0, 98.0025, Y1))}
    response = planner.post("/api/units/999999/reshape/", body, format="json")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_history_lists_every_version_with_its_edit(city, planner):
    body = {"version": 1, "geometry": geojson(sbox(98.000, Y0, 98.0025, Y1)), "note": "新建小区"}
    planner.post(url(city["a"], "reshape"), body, format="json")
    history = planner.get(f"/api/units/{city['a'].pk}/history/").json()
    assert history["current_version"] == 2
    assert [v["version"] for v in history["versions"]] == [1, 2]
    last = history["versions"][-1]
    assert last["edit"]["operation"] == "reshape" and last["edit"]["note"] == "新建小区"
    assert last["edit"]["user"] == "user-planner"
    assert last["geometry"]["type"] == "MultiPolygon"

    edits = planner.get(f"/api/edits/?unit={city['b'].pk}").json()["results"]
    assert len(edits) == 1
    detail = planner.get(f"/api/edits/{edits[0]['id']}/").json()
    row = next(u for u in detail["units"] if u["code"] == A)
    assert row["geometry_before"] and row["geometry_after"]
    assert detail["reassignment"] == edits[0]["reassignment"]


def test_restore_and_undo_over_http(city, planner):
    body = {"version": 1, "geometry": geojson(sbox(98.000, Y0, 98.0025, Y1))}
    first = planner.post(url(city["a"], "reshape"), body, format="json").json()
    restore = planner.post(
        url(city["a"], "restore"), {"version": 2, "to_version": 1}, format="json"
    )
    assert restore.status_code == 201, restore.json()
    assert bounds(A) == (98.0, Y0, 98.002, Y1)
    undo_first = planner.post(f"/api/edits/{first['edit']['id']}/undo/", {}, format="json")
    assert undo_first.status_code == 409 and undo_first.json()["error"] == "edit_superseded"
    undo_restore = planner.post(
        f"/api/edits/{restore.json()['edit']['id']}/undo/", {}, format="json"
    )
    assert undo_restore.status_code == 201, undo_restore.json()
    assert bounds(A) == (98.0, Y0, 98.0025, Y1)
    missing = planner.post(
        url(city["a"], "restore"), {"version": 4, "to_version": 99}, format="json"
    )
    assert missing.status_code == 404


def test_locate_at_answers_which_grid_a_point_was_in_on_a_date(city, planner, viewer_api):
    # The fixture's versions start "now"; date them back so the dates below mean something.
    UnitVersion.objects.update(valid_from=timezone.make_aware(dt.datetime(2026, 1, 1)))
    body = {"version": 1, "geometry": geojson(sbox(98.000, Y0, 98.0025, Y1))}
    planner.post(url(city["a"], "reshape"), body, format="json")
    edited = UnitVersion.objects.filter(valid_to__isnull=False)
    edited.update(valid_to=timezone.make_aware(dt.datetime(2026, 6, 1, 9, 0)))
    UnitVersion.objects.filter(valid_to__isnull=True, version=2).update(
        valid_from=timezone.make_aware(dt.datetime(2026, 6, 1, 9, 0))
    )
    point = "/api/locate/?lon=98.0022&lat=39.001"
    assert viewer_api.get(point).json()["grid"]["code"] == A
    then = viewer_api.get(point + "&at=2026-05-31").json()
    assert then["grid"]["code"] == B and then["node"]["code"] == N1
    assert then["at"].startswith("2026-05-31T23:59:59")
    assert viewer_api.get(point + "&at=2026-06-01").json()["grid"]["code"] == A
    assert viewer_api.get(point + "&at=2026-06-01T08:59").json()["grid"]["code"] == B
    before = viewer_api.get(point + "&at=2025-12-31").json()
    assert before["grid"] is None and before["reason"]
    bad = viewer_api.get(point + "&at=yesterday")
    assert bad.status_code == 400 and bad.json()["where"] == "at"
