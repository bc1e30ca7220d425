"""Topology checks: children must tile their parent, problems are located and measured, and grids
should be numbered in reading order."""

from __future__ import annotations

import json

import pytest
import shapely
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from pyproj import Geod
from rest_framework.test import APIRequestFactory, force_authenticate

from gridmap.api.topology import TopologyView
from gridmap.models import GridUnit
from gridmap.topology import BadCode, OutOfOrder, check, problems, tiling_reports
from tests.conftest import G1, G2, G3, HOLE_A, HOLE_B, NODE, X0, Y0, box, multi, user_with_role

pytestmark = pytest.mark.django_db

_WGS84 = Geod(ellps="WGS84")


def geodesic_area(xmin: float, ymin: float, xmax: float, ymax: float) -> float:
    """The area of a lon/lat box on the WGS84 ellipsoid, computed outside the database."""
    area, _ = _WGS84.geometry_area_perimeter(shapely.box(xmin, ymin, xmax, ymax))
    return abs(area)


def inside(point: tuple[float, float], xmin: float, ymin: float, xmax: float, ymax: float) -> bool:
    return xmin < point[0] < xmax and ymin < point[1] < ymax


def set_geom(code: str, *polygons) -> None:
    GridUnit.objects.filter(code=code).update(geom=multi(*polygons))


def fill_hole_b(world) -> None:
    g3 = world["g3"]
    g3.geom = multi(*g3.geom, box(*HOLE_B))
    g3.save()


def test_the_gap_in_the_test_world_is_found_with_its_area_and_place(world):
    report = check()
    assert not report.ok and report.errors == 1
    (gap,) = report.gaps
    assert gap.parent == NODE
    assert gap.area_m2 == pytest.approx(geodesic_area(*HOLE_B), rel=1e-3)
    assert inside(gap.point, *HOLE_B)
    assert report.overlaps == [] and report.outside == [] and report.bad_codes == []


def test_the_per_parent_totals_still_show_the_gap(world):
    bad = {r.code: r for r in problems()}
    assert list(bad) == [NODE]
    assert bad[NODE].gap_m2 == pytest.approx(geodesic_area(*HOLE_B), rel=1e-3)
    assert bad[NODE].overlap_m2 < 1 and bad[NODE].outside_m2 < 1


def test_filling_the_gap_makes_the_tiling_clean(world):
    fill_hole_b(world)
    report = check()
    assert report.ok and report.errors == 0 and report.warnings == 0
    assert problems() == []
    assert {t.level for t in tiling_reports()} == {"network", "segment", "node"}


def test_an_overlap_is_reported_as_the_pair_of_siblings_with_its_area_and_place(world):
    fill_hole_b(world)
    set_geom(G1, box(X0, Y0, 98.0025, 39.002))  # 0.0005° into G2, stopping at hole A
    report = check()
    (overlap,) = report.overlaps
    assert (overlap.a, overlap.b, overlap.parent) == (G1, G2, NODE)
    shared = (98.002, Y0, 98.0025, 39.002)
    assert overlap.area_m2 == pytest.approx(geodesic_area(*shared), rel=1e-3)
    assert inside(overlap.point, *shared)
    assert report.gaps == [] and report.outside == [] and not report.ok


def test_a_child_outside_its_parent_is_reported_with_its_area_and_place(world):
    fill_hole_b(world)
    set_geom(G1, box(97.999, Y0, 98.002, 39.002))  # 0.001° west of the node
    report = check()
    (outside,) = report.outside
    assert (outside.child, outside.parent) == (G1, NODE)
    beyond = (97.999, Y0, X0, 39.002)
    assert outside.area_m2 == pytest.approx(geodesic_area(*beyond), rel=1e-3)
    assert inside(outside.point, *beyond)
    assert report.gaps == [] and report.overlaps == [] and not report.ok


def test_codes_out_of_reading_order_are_a_warning_not_an_error(world):
    fill_hole_b(world)
    # G1 and G3 swap places: G3 is now the western grid, G1 the eastern one.
    set_geom(G1, box(*HOLE_A), box(*HOLE_B), box(98.004, Y0, 98.006, 39.002))
    set_geom(G3, box(X0, Y0, 98.002, 39.002))
    report = check()
    assert report.order == [
        OutOfOrder(code=G1, node=NODE, expected=3, actual=1),
        OutOfOrder(code=G3, node=NODE, expected=1, actual=3),
    ]
    assert report.ok and report.warnings == 2


def test_a_code_that_does_not_start_with_its_parents_code_is_an_error(world):
    # The database trigger refuses it; data loaded around the trigger must still be caught.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE waits for no deferred check
        cursor.execute("ALTER TABLE gridmap_gridunit DISABLE TRIGGER USER")
        cursor.execute("UPDATE gridmap_gridunit SET code = '620200002001003' WHERE code = %s", [G3])
        cursor.execute("ALTER TABLE gridmap_gridunit ENABLE TRIGGER USER")
    report = check()
    assert report.bad_codes == [BadCode("620200002001003", NODE, "not_under_parent")]
    assert not report.ok


def test_a_unit_without_children_is_all_gap(world):
    GridUnit.objects.create(
        level="segment",
        code="620200002",
        name="空街道",
        geom=multi(box(98.1, 39.0, 98.2, 39.1)),
        parent=world["network"],
    )
    report = check()
    (empty,) = [g for g in report.gaps if g.parent == "620200002"]
    assert empty.area_m2 == pytest.approx(geodesic_area(98.1, 39.0, 98.2, 39.1), rel=1e-3)
    assert "620200002" in {r.code for r in problems()}


def test_the_check_can_be_limited_to_one_unit_and_below(world):
    report = check(NODE)
    assert [t.code for t in report.tilings] == [NODE]
    assert [g.parent for g in report.gaps] == [NODE]
    assert check(G1).tilings == []


def test_command_exits_1_on_errors_and_says_where_they_are(world, capsys):
    with pytest.raises(CommandError, match="topology errors") as raised:
        call_command("check_topology")
    assert raised.value.returncode == 1
    out = capsys.readouterr().out
    assert "缝隙 / gaps (1):" in out
    (gap,) = check().gaps
    assert f"{NODE}: {gap.area_m2:.1f} m² @ {gap.point[0]:.7f},{gap.point[1]:.7f}" in out


def test_command_exits_0_with_order_warnings_only(world, capsys):
    fill_hole_b(world)
    set_geom(G1, box(*HOLE_A), box(*HOLE_B), box(98.004, Y0, 98.006, 39.002))
    set_geom(G3, box(X0, Y0, 98.002, 39.002))
    call_command("check_topology", "--unit", NODE)
    out = capsys.readouterr().out
    assert "codes out of reading order (warnings) (2):" in out
    assert f"{G1}: 按阅读顺序应排第 3" in out
    assert "no topology errors, 2 warnings" in out


def test_command_prints_json(world, capsys):
    with pytest.raises(CommandError):
        call_command("check_topology", "--json", "--tolerance", "0.5")
    body = json.loads(capsys.readouterr().out)
    assert body["ok"] is False and body["tolerance_m2"] == 0.5
    assert body["gaps"][0]["parent"] == NODE


def test_command_refuses_an_unknown_unit_and_a_negative_tolerance(world):
    with pytest.raises(CommandError, match="no unit's code starts with '999'") as raised:
        call_command("check_topology", "--unit", "999")
    assert raised.value.returncode == 2
    with pytest.raises(CommandError, match="non-negative"):
        call_command("check_topology", "--tolerance", "-1")


@pytest.fixture
def viewer(db):
    return user_with_role("viewer")


def get_topology(params: dict[str, str], user):
    request = APIRequestFactory().get("/api/topology/", params)
    force_authenticate(request, user=user)
    return TopologyView.as_view()(request)


def test_api_returns_the_report_of_a_unit(world, viewer):
    response = get_topology({"unit": NODE, "tolerance": "2"}, viewer)
    assert response.status_code == 200
    body = response.data
    assert body["unit"] == NODE and body["tolerance_m2"] == 2.0
    assert body["ok"] is False and body["errors"] == 1 and body["warnings"] == 0
    (gap,) = body["gaps"]
    assert gap["parent"] == NODE and inside(gap["point"], *HOLE_B)
    assert [t["code"] for t in body["tilings"]] == [NODE]


@pytest.mark.parametrize("tolerance", ["-1", "abc", "nan", "inf"])
def test_api_refuses_a_tolerance_that_is_not_a_non_negative_number(world, viewer, tolerance):
    response = get_topology({"tolerance": tolerance}, viewer)
    assert response.status_code == 400
    assert response.data["error"] == "invalid_tolerance"
    assert response.data["where"] == "tolerance"
    assert "容差" in response.data["detail"] and "tolerance" in response.data["detail"]


def test_api_answers_404_for_an_unknown_unit_and_400_for_a_malformed_one(world, viewer):
    unknown = get_topology({"unit": "999"}, viewer)
    assert unknown.status_code == 404
    assert (unknown.data["error"], unknown.data["where"]) == ("unknown_unit", "unit")
    malformed = get_topology({"unit": "62a"}, viewer)
    assert malformed.status_code == 400
    assert (malformed.data["error"], malformed.data["where"]) == ("invalid_unit", "unit")


def test_api_needs_the_permission_to_view_the_grid(world):
    assert get_topology({}, user_with_role(None)).status_code == 403
