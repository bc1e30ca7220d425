"""The assignment service: every layer's rows carry the grid they lie in, by one rule."""

from __future__ import annotations

import pytest
from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from django.core.management import call_command

from gridmap.assignment import assign, assign_all, assignable_models, layer_name
from gridmap.models import GridUnit
from layers.models import Building, Camera, Facility, Household, Incident
from tests.conftest import HOLE_A, box

pytestmark = pytest.mark.django_db


def camera_at(x: float, y: float, code: str) -> Camera:
    return Camera.objects.create(
        code=code, location=Point(x, y, srid=4326), bearing=90, fov=90, range_m=50
    )


def grid_code(obj) -> str | None:
    obj.refresh_from_db()
    return obj.grid.code if obj.grid else None


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        pytest.param(98.001, 39.001, "g1", id="inside"),
        pytest.param(98.0027, 39.0007, "g3", id="in_a_hole_filled_by_another_grid"),
        pytest.param(98.005, 39.001, "g3", id="in_the_second_part_of_a_multipolygon"),
        pytest.param(98.0036, 39.0014, None, id="in_a_hole_no_grid_fills"),
        pytest.param(98.010, 39.001, None, id="outside_every_grid"),
    ],
)
def test_point_goes_to_the_grid_that_covers_it(world, x, y, expected):
    camera = camera_at(x, y, "c1")
    assign(Camera)
    assert grid_code(camera) == (world[expected].code if expected else None)


def test_point_on_shared_edge_goes_to_lower_code(world):
    camera = camera_at(98.002, 39.001, "edge")
    assign(Camera)
    assert grid_code(camera) == world["g1"].code  # …001 and …002 share x = 98.002


def test_point_on_shared_vertex_goes_to_lower_code(world):
    # A corner of hole A: a vertex of G2's inner ring and of G3's first part.
    camera = camera_at(HOLE_A[0], HOLE_A[1], "vertex")
    assign(Camera)
    assert grid_code(camera) == world["g2"].code


def test_shared_edge_rule_does_not_depend_on_insertion_order(world):
    # Re-create the grids in reverse code order: the winner must stay the lowest code.
    g1 = world["g1"]
    geom, code, parent = g1.geom, g1.code, g1.parent
    g1.delete()
    later = GridUnit.objects.create(level="grid", code=code, name="重建", geom=geom, parent=parent)
    camera = camera_at(98.002, 39.001, "edge")
    assign(Camera)
    assert grid_code(camera) == later.code


def test_result_counts_assigned_unassigned_and_changed(world):
    camera_at(98.001, 39.001, "in")
    camera_at(98.010, 39.001, "out")
    Camera.objects.update(grid=None)  # as after a bulk load, which bypasses save()
    first = assign(Camera)
    assert (first.assigned, first.unassigned, first.changed) == (1, 1, 1)
    second = assign(Camera)
    assert (second.assigned, second.unassigned, second.changed) == (1, 1, 0)


def test_building_is_assigned_by_a_point_on_its_surface_not_its_centroid(world):
    # An L-shaped building mostly in G2 whose centroid lies in the notch, inside G1.
    l_shape = Polygon(
        (
            (98.0019, 39.0011),
            (98.0030, 39.0011),
            (98.0030, 39.0019),
            (98.0021, 39.0019),
            (98.0021, 39.0013),
            (98.0019, 39.0013),
            (98.0019, 39.0011),
        ),
        srid=4326,
    )
    building = Building.objects.create(footprint=l_shape, road="新华北路", number="1号")
    building.refresh_from_db()
    assert building.footprint.intersects(building.anchor)
    assign_all()
    assert grid_code(building) == GridUnit.objects.grids().covering(building.anchor).first().code


def test_household_without_own_point_follows_its_building(world):
    building = Building.objects.create(footprint=box(98.0005, 39.0005, 98.0008, 39.0008))
    follower = Household.objects.create(building=building, residents=2)
    own = Household.objects.create(
        building=building, residents=1, location=Point(98.005, 39.001, srid=4326)
    )
    assign_all()
    assert grid_code(building) == world["g1"].code
    assert grid_code(follower) == world["g1"].code
    assert grid_code(own) == world["g3"].code


def test_buildings_are_assigned_before_the_households_that_follow_them():
    names = [layer_name(m) for m in assignable_models()]
    assert names.index("building") < names.index("household")
    assert {"building", "household", "camera", "facility", "incident"} <= set(names)


def test_incremental_assignment_touches_only_the_area_given(world):
    inside = camera_at(98.001, 39.001, "inside")
    elsewhere = camera_at(98.005, 39.001, "elsewhere")
    assign(Camera)
    # Hand G1's area to G3 behind the service's back, then reassign only the west half.
    GridUnit.objects.filter(pk=world["g3"].pk).update(
        geom=MultiPolygon(
            box(*HOLE_A), box(98.004, 39.0, 98.006, 39.002), box(98.0, 39.0, 98.002, 39.002)
        )
    )
    GridUnit.objects.filter(pk=world["g1"].pk).update(
        geom=MultiPolygon(box(97.0, 38.0, 97.001, 38.001))
    )
    Camera.objects.filter(pk=elsewhere.pk).update(grid=None)  # a stale row outside the area
    result = assign(Camera, area=box(98.0, 39.0, 98.002, 39.002))
    assert result.total == 1
    assert result.changed == 1
    assert grid_code(inside) == world["g3"].code
    assert grid_code(elsewhere) is None  # outside the area: left as it was


def test_incremental_assignment_moves_followers_of_buildings_in_the_area(world):
    building = Building.objects.create(footprint=box(98.0005, 39.0005, 98.0008, 39.0008))
    household = Household.objects.create(building=building, residents=3)
    assign_all()
    GridUnit.objects.filter(pk=world["g1"].pk).update(code="620200001001009")
    result = {r.layer: r for r in assign_all(area=box(98.0, 39.0, 98.001, 39.001))}
    assert result["household"].total == 1
    assert grid_code(household) == "620200001001009"


def test_incident_keeps_the_grid_it_was_reported_in(world):
    incident = Incident.objects.create(category="noise", location=Point(98.001, 39.001, srid=4326))
    assign(Incident)
    incident.refresh_from_db()
    assert incident.reported_grid == incident.grid == world["g1"]
    # The boundary moves: G1's area now belongs to G3.
    GridUnit.objects.filter(pk=world["g1"].pk).update(
        geom=MultiPolygon(box(97.0, 38.0, 97.001, 38.001))
    )
    GridUnit.objects.filter(pk=world["g3"].pk).update(
        geom=MultiPolygon(box(98.0, 39.0, 98.002, 39.002), box(98.004, 39.0, 98.006, 39.002))
    )
    assign(Incident)
    incident.refresh_from_db()
    assert incident.grid == world["g3"]
    assert incident.reported_grid == world["g1"]


def test_unassigned_rows_get_null_when_their_grid_disappears(world):
    facility = Facility.objects.create(
        kind="medical", name="诊所", location=Point(98.001, 39.001, srid=4326)
    )
    assign(Facility)
    GridUnit.objects.filter(pk=world["g1"].pk).update(
        geom=MultiPolygon(box(97.0, 38.0, 97.001, 38.001))
    )
    result = assign(Facility)
    assert (result.unassigned, result.changed) == (1, 1)
    assert grid_code(facility) is None


def test_assign_command_reports_each_layer_and_a_summary(world, capsys):
    camera_at(98.001, 39.001, "in")
    camera_at(98.010, 39.001, "out")
    Camera.objects.update(grid=None)
    call_command("assign", "--layer", "camera")
    out = capsys.readouterr().out
    assert "camera" in out
    assert "assigned         1" in out
    assert "2 rows, 1 outside every grid, 1 changed" in out


def test_assign_command_rejects_an_unknown_layer(world):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unknown layer 'trees'"):
        call_command("assign", "--layer", "trees")


def test_assign_command_rejects_an_invalid_area(world):
    from django.core.management.base import CommandError

    bowtie = "POLYGON((98 39, 98.001 39.001, 98.001 39, 98 39.001, 98 39))"
    with pytest.raises(CommandError, match="invalid --area"):
        call_command("assign", "--area", bowtie)


def test_saving_a_row_assigns_it_at_once(world):
    camera = camera_at(98.001, 39.001, "saved")
    assert camera.grid == world["g1"]
    camera.location = Point(98.005, 39.001, srid=4326)
    camera.save()
    assert camera.grid == world["g3"]


def test_moving_a_building_takes_its_households_along(world):
    building = Building.objects.create(footprint=box(98.0005, 39.0005, 98.0008, 39.0008))
    household = Household.objects.create(building=building, residents=1)
    assert grid_code(household) == world["g1"].code
    building.footprint = box(98.0045, 39.0005, 98.0048, 39.0008)
    building.save()
    assert building.grid == world["g3"]
    assert grid_code(household) == world["g3"].code
