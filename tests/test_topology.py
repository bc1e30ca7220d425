"""Topology checks: children must tile their parent, and problems are located and measured."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gridmap.models import GridUnit
from gridmap.topology import problems, tiling_reports
from tests.conftest import HOLE_B, box, multi

pytestmark = pytest.mark.django_db


def test_the_gap_in_the_test_world_is_found_with_its_area_and_place(world):
    bad = {r.code: r for r in problems()}
    assert list(bad) == [world["node"].code]
    node = bad[world["node"].code]
    # Hole B: 0.0004° × 0.0004° at 39° N ≈ 34.6 m × 44.4 m.
    assert node.gap_m2 == pytest.approx(1536, rel=0.02)
    assert node.overlap_m2 < 1 and node.outside_m2 < 1
    (gap,) = node.gaps
    assert HOLE_B[0] < gap.point[0] < HOLE_B[2] and HOLE_B[1] < gap.point[1] < HOLE_B[3]


def test_filling_the_gap_makes_the_tiling_clean(world):
    g3 = world["g3"]
    g3.geom = multi(*g3.geom, box(*HOLE_B))
    g3.save()
    assert problems() == []
    assert {r.level for r in tiling_reports()} == {"network", "segment", "node"}


def test_an_overlap_and_a_child_outside_its_parent_are_measured(world):
    GridUnit.objects.filter(pk=world["g1"].pk).update(
        geom=multi(box(97.999, 39.0, 98.0025, 39.002))
    )
    node = next(r for r in problems() if r.code == world["node"].code)
    assert node.overlap_m2 > 1000  # G1 now reaches 0.0005° into G2
    assert node.outside_m2 > 1000  # and 0.001° west of the node


def test_a_unit_without_children_is_a_problem(world):
    GridUnit.objects.create(
        level="segment",
        code="620200002",
        name="空街道",
        geom=multi(box(98.1, 39.0, 98.2, 39.1)),
        parent=world["network"],
    )
    assert "620200002" in {r.code for r in problems()}


def test_check_topology_command_fails_loudly_on_problems(world, capsys):
    with pytest.raises(CommandError, match="not tiled"):
        call_command("check_topology")
    assert "gap 15" in capsys.readouterr().out
