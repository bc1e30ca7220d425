"""Boundary edits: every operation, every refusal (which changes nothing), preview = commit,
optimistic concurrency, history, restore and undo."""

from __future__ import annotations

import pytest
from django.contrib.gis.geos import Point
from shapely.geometry import LineString
from shapely.geometry import box as sbox

from gridmap import editing
from gridmap.editing import EditError
from gridmap.models import GridUnit, StaffMember, UnitEdit, UnitVersion
from layers.models import Household, Incident
from tests.editing_world import N1, N2, SEG, Y0, Y1, A, B, C, D, build_city, households_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def city():
    return build_city()


def bounds(code: str) -> tuple[float, ...]:
    return tuple(round(v, 7) for v in GridUnit.objects.get(code=code).geom.extent)


def grid_of(household: Household) -> str | None:
    household.refresh_from_db()
    return household.grid.code if household.grid else None


def snapshot() -> tuple:
    """Everything an edit may write, to prove a refused or previewed edit wrote nothing."""
    units = tuple(
        GridUnit.objects.order_by("id").values_list("id", "code", "parent_id", "version", "geom")
    )
    households = tuple(Household.objects.order_by("id").values_list("id", "grid_id"))
    return (
        tuple((i, c, p, v, g.wkb.tobytes()) for i, c, p, v, g in units),
        households,
        UnitEdit.objects.count(),
        UnitVersion.objects.count(),
        tuple(StaffMember.objects.order_by("id").values_list("id", "unit_id")),
    )


# Reshape -----------------------------------------------------------------------------------


def test_reshape_moves_the_shared_edge_of_the_neighbour_with_it(city):
    (h,) = households_at((98.0022, 39.001))
    assert grid_of(h) == B
    result = editing.reshape(city["a"].pk, 1, sbox(98.000, Y0, 98.0025, Y1))
    assert bounds(A) == (98.0, Y0, 98.0025, Y1)
    assert bounds(B) == (98.0025, Y0, 98.004, Y1)
    assert grid_of(h) == A
    assert result.reassignment["household"]["pairs"] == [{"from": B, "to": A, "count": 1}]
    assert {u["code"]: u["version_after"] for u in result.units} == {A: 2, B: 2}


def test_giving_up_area_hands_it_to_the_neighbour_it_borders(city):
    editing.reshape(city["b"].pk, 1, sbox(98.0025, Y0, 98.004, Y1))
    assert bounds(A) == (98.0, Y0, 98.0025, Y1)


def test_a_node_edge_that_moves_takes_its_grids_edges_along(city):
    (h,) = households_at((98.0042, 39.001))
    assert grid_of(h) == C
    result = editing.reshape(city["n1"].pk, 1, sbox(98.000, Y0, 98.0045, Y1))
    assert bounds(N1) == (98.0, Y0, 98.0045, Y1)
    assert bounds(N2) == (98.0045, Y0, 98.008, Y1)
    assert bounds(B) == (98.002, Y0, 98.0045, Y1)
    assert bounds(C) == (98.0045, Y0, 98.006, Y1)
    assert grid_of(h) == B
    assert {u["code"] for u in result.units} == {N1, N2, B, C}


def test_vertices_drawn_a_few_centimetres_off_are_snapped_onto_the_neighbour(city):
    # A map page rounds coordinates to 1e-7°; the edge must still meet B exactly.
    editing.reshape(city["a"].pk, 1, sbox(98.000, Y0, 98.00250004, Y1 + 0.00000004))
    assert bounds(A) == (98.0, Y0, 98.0025, Y1)
    assert GridUnit.objects.get(code=A).geom.touches(GridUnit.objects.get(code=B).geom)


def test_edit_that_reaches_outside_the_parent_is_rejected_and_nothing_changes(city):
    before = snapshot()
    with pytest.raises(EditError) as err:
        editing.reshape(city["a"].pk, 1, sbox(97.999, Y0, 98.002, Y1))
    assert err.value.code == "outside_parent"
    assert err.value.where["unit"] == N1 and err.value.where["area_m2"] > 10_000
    assert err.value.where["point"][0] < 98.0
    assert snapshot() == before


def test_edit_that_leaves_a_gap_in_the_parent_is_rejected_with_the_gap(city):
    before = snapshot()
    with pytest.raises(EditError) as err:
        editing.reshape(city["a"].pk, 1, sbox(98.0005, Y0, 98.002, Y1))
    assert err.value.code == "gap"
    (gap,) = err.value.where["gaps"]
    assert 9_000 < gap["area_m2"] < 10_000  # 0.0005° × 0.002° ≈ 43 m × 222 m
    assert 98.0 < gap["point"][0] < 98.0005
    assert snapshot() == before


def test_invalid_geometry_is_rejected_with_where_it_is_invalid(city):
    before = snapshot()
    bowtie = sbox(0, 0, 1, 1).__class__(
        [(98.000, Y0), (98.002, Y1), (98.002, Y0), (98.000, Y1), (98.000, Y0)]
    )
    with pytest.raises(EditError) as err:
        editing.reshape(city["a"].pk, 1, bowtie)
    assert err.value.code == "invalid_geometry"
    assert err.value.where["point"] == pytest.approx([98.001, 39.001])
    assert snapshot() == before


def test_a_stale_version_gets_409_with_the_current_version_and_nothing_changes(city):
    editing.reshape(city["a"].pk, 1, sbox(98.000, Y0, 98.0025, Y1))
    before = snapshot()
    with pytest.raises(EditError) as err:
        editing.reshape(city["a"].pk, 1, sbox(98.000, Y0, 98.003, Y1))
    assert err.value.status == 409 and err.value.code == "stale_version"
    assert err.value.where == {"unit": A, "id": city["a"].pk, "version": 2}
    assert snapshot() == before


def test_versions_of_the_neighbours_can_be_asserted_too(city):
    editing.reshape(city["b"].pk, 1, sbox(98.0025, Y0, 98.004, Y1))  # A is at version 2 now
    with pytest.raises(EditError) as err:
        editing.reshape(city["b"].pk, 2, sbox(98.002, Y0, 98.004, Y1), versions={city["a"].pk: 1})
    assert err.value.status == 409 and err.value.where["unit"] == A


# Preview -----------------------------------------------------------------------------------


def test_preview_changes_nothing_and_reports_what_the_commit_then_does(city):
    households_at((98.0022, 39.001), (98.0021, 39.0005), (98.003, 39.001))
    before = snapshot()
    preview = editing.reshape(city["a"].pk, 1, sbox(98.000, Y0, 98.0025, Y1), preview=True)
    assert snapshot() == before
    assert preview.edit is None and preview.preview
    commit = editing.reshape(city["a"].pk, 1, sbox(98.000, Y0, 98.0025, Y1))
    assert commit.edit is not None
    assert preview.units == commit.units
    assert preview.reassignment == commit.reassignment
    assert preview.load == commit.load
    assert commit.reassignment["household"] == {
        "moved": 2,
        "pairs": [{"from": B, "to": A, "count": 2}],
    }
    by_code = {row["code"]: row for row in commit.load}
    assert by_code[A]["households_before"] == 0 and by_code[A]["households_after"] == 2
    assert by_code[B]["households_before"] == 3 and by_code[B]["households_after"] == 1
    assert by_code[B]["target"] == 250 and by_code[B]["flag"] == "under"


def test_open_incidents_are_reported_closed_ones_are_not(city):
    for status in ("received", "handling", "closed"):
        Incident.objects.create(
            category="noise", status=status, location=Point(98.0022, 39.001, srid=4326)
        )
    result = editing.reshape(city["a"].pk, 1, sbox(98.000, Y0, 98.0025, Y1), preview=True)
    assert result.reassignment["incident"]["moved"] == 2


# Split, merge, transfer ---------------------------------------------------------------------


def test_split_cuts_a_grid_in_two_and_the_new_grid_takes_the_next_code(city):
    west, east = households_at((98.0005, 39.001), (98.0015, 39.001))
    result = editing.split(
        city["a"].pk, 1, LineString([(98.001, 38.999), (98.001, 39.003)]), name="新网格"
    )
    new = GridUnit.objects.get(code=f"{N1}003")
    assert new.name == "新网格" and new.parent_id == city["n1"].pk
    assert bounds(A) == (98.0, Y0, 98.001, Y1)
    assert bounds(new.code) == (98.001, Y0, 98.002, Y1)
    assert (grid_of(west), grid_of(east)) == (A, new.code)
    assert {u["action"] for u in result.units} == {"changed", "created"}


def test_split_by_a_line_that_does_not_cross_the_unit_is_rejected(city):
    before = snapshot()
    with pytest.raises(EditError) as err:
        editing.split(city["a"].pk, 1, LineString([(98.001, 39.0005), (98.001, 39.003)]))
    assert err.value.code == "line_does_not_split"
    assert snapshot() == before


def test_split_of_a_node_moves_the_grids_on_the_far_side_to_the_new_node(city):
    (h,) = households_at((98.003, 39.001))
    editing.split(city["n1"].pk, 1, LineString([(98.00201, 38.999), (98.00199, 39.003)]))
    new_node = GridUnit.objects.get(code=f"{SEG}003")
    moved = GridUnit.objects.get(pk=city["b"].pk)
    assert moved.code == f"{SEG}003002" and moved.parent_id == new_node.pk
    assert bounds(N1) == (98.0, Y0, 98.002, Y1)  # follows the grids' edge, not the drawn line
    assert grid_of(h) == moved.code


def test_split_of_a_node_through_a_grid_is_refused_with_the_grid(city):
    before = snapshot()
    with pytest.raises(EditError) as err:
        editing.split(city["n1"].pk, 1, LineString([(98.001, 38.999), (98.001, 39.003)]))
    assert err.value.code == "child_cut" and err.value.where["unit"] == A
    assert snapshot() == before


def test_merge_joins_two_neighbours_and_moves_rows_and_staff(city):
    (h,) = households_at((98.003, 39.001))
    staff = StaffMember.objects.create(unit=city["b"], role="grid_leader", name="王芳")
    result = editing.merge(city["a"].pk, 1, city["b"].pk, 1)
    assert not GridUnit.objects.filter(code=B).exists()
    assert bounds(A) == (98.0, Y0, 98.004, Y1)
    assert grid_of(h) == A
    staff.refresh_from_db()
    assert staff.unit_id == city["a"].pk
    assert result.reassignment["household"]["pairs"] == [{"from": B, "to": A, "count": 1}]


def test_merge_of_units_under_different_parents_is_refused(city):
    with pytest.raises(EditError) as err:
        editing.merge(city["b"].pk, 1, city["c"].pk, 1)
    assert err.value.code == "not_siblings"


def test_merge_of_units_that_only_meet_at_a_corner_is_refused(world):
    # G1 and G3 of the shared world do not share an edge.
    with pytest.raises(EditError) as err:
        editing.merge(world["g1"].pk, 1, world["g3"].pk, 1)
    assert err.value.code == "not_adjacent"


def test_merge_of_nodes_renumbers_the_grids_it_brings(city):
    editing.merge(city["n1"].pk, 1, city["n2"].pk, 1)
    assert GridUnit.objects.get(pk=city["c"].pk).code == f"{N1}003"
    assert GridUnit.objects.get(pk=city["d"].pk).code == f"{N1}004"
    assert not GridUnit.objects.filter(code=N2).exists()


def test_transfer_hands_a_drawn_area_to_the_chosen_neighbour(city):
    (h,) = households_at((98.0028, 39.001))
    result = editing.transfer(city["a"].pk, 1, sbox(98.0015, 38.999, 98.003, 39.003))
    assert bounds(A) == (98.0, Y0, 98.003, Y1)
    assert bounds(B) == (98.003, Y0, 98.004, Y1)
    assert grid_of(h) == A
    assert result.operation == "transfer"


def test_transfer_of_an_area_that_does_not_border_the_receiver_is_refused(city):
    with pytest.raises(EditError) as err:
        editing.transfer(city["a"].pk, 1, sbox(98.003, 39.0005, 98.0035, 39.001))
    assert err.value.code == "not_adjacent"


def test_transfer_that_would_empty_a_grid_is_refused(city):
    before = snapshot()
    with pytest.raises(EditError) as err:
        editing.transfer(city["a"].pk, 1, sbox(98.001, 38.999, 98.0041, 39.003))
    assert err.value.code == "unit_emptied" and err.value.where["unit"] == B
    assert snapshot() == before


# History, restore, undo --------------------------------------------------------------------


def test_every_edit_is_recorded_with_who_before_and_after(city, django_user_model):
    user = django_user_model.objects.create_user("planner1")
    result = editing.reshape(city["a"].pk, 1, sbox(98.000, Y0, 98.0025, Y1), user=user, note="新楼")
    edit = result.edit
    assert (edit.operation, edit.username, edit.note) == ("reshape", "planner1", "新楼")
    assert sorted(edit.unit_ids) == sorted([city["a"].pk, city["b"].pk])
    versions = UnitVersion.objects.filter(unit_id=city["a"].pk).order_by("version")
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].valid_to is not None and versions[1].valid_to is None
    assert versions[1].edit_id == edit.pk
    assert edit.reassignment == result.reassignment


def test_restore_brings_back_an_earlier_boundary_and_the_neighbour_follows(city):
    (h,) = households_at((98.0022, 39.001))
    editing.reshape(city["a"].pk, 1, sbox(98.000, Y0, 98.0025, Y1))
    result = editing.restore(city["a"].pk, 2, 1)
    assert bounds(A) == (98.0, Y0, 98.002, Y1)
    assert bounds(B) == (98.002, Y0, 98.004, Y1)
    assert grid_of(h) == B
    assert GridUnit.objects.get(code=A).version == 3
    assert result.operation == "restore"


def test_undo_of_a_split_removes_the_new_grid_and_puts_the_rows_back(city):
    (h,) = households_at((98.0015, 39.001))
    split = editing.split(city["a"].pk, 1, LineString([(98.001, 38.999), (98.001, 39.003)]))
    editing.undo(split.edit.pk)
    assert not GridUnit.objects.filter(code=f"{N1}003").exists()
    assert bounds(A) == (98.0, Y0, 98.002, Y1)
    assert grid_of(h) == A
    with pytest.raises(EditError) as err:
        editing.undo(split.edit.pk)
    assert err.value.code == "already_undone"


def test_undo_of_a_merge_brings_the_unit_back_with_its_id_code_and_staff(city):
    (h,) = households_at((98.003, 39.001))
    staff = StaffMember.objects.create(unit=city["b"], role="grid_leader", name="王芳")
    merge = editing.merge(city["a"].pk, 1, city["b"].pk, 1)
    editing.undo(merge.edit.pk)
    back = GridUnit.objects.get(pk=city["b"].pk)
    assert back.code == B and bounds(B) == (98.002, Y0, 98.004, Y1)
    staff.refresh_from_db()
    assert staff.unit_id == back.pk
    assert grid_of(h) == B


def test_undo_of_a_node_merge_gives_the_grids_their_codes_back(city):
    merge = editing.merge(city["n1"].pk, 1, city["n2"].pk, 1)
    editing.undo(merge.edit.pk)
    assert GridUnit.objects.get(pk=city["c"].pk).code == C
    assert GridUnit.objects.get(pk=city["d"].pk).code == D
    assert GridUnit.objects.get(code=N2).pk == city["n2"].pk


def test_undo_after_a_later_edit_of_the_same_unit_is_refused(city):
    first = editing.reshape(city["a"].pk, 1, sbox(98.000, Y0, 98.0025, Y1))
    editing.reshape(city["a"].pk, 2, sbox(98.000, Y0, 98.003, Y1))
    before = snapshot()
    with pytest.raises(EditError) as err:
        editing.undo(first.edit.pk)
    assert err.value.status == 409 and err.value.code == "edit_superseded"
    assert snapshot() == before


@pytest.mark.django_db(transaction=True)
def test_two_planners_editing_at_once_one_wins_and_the_other_gets_409():
    """Both start from version 1; the lock on the parent makes the second wait, then see the
    first's version and refuse, so neither edit is lost silently."""
    import threading

    from django.db import connection

    units = build_city()
    barrier = threading.Barrier(2)
    outcomes: list = []

    def edit(x: float) -> None:
        try:
            barrier.wait()
            result = editing.reshape(units["a"].pk, 1, sbox(98.000, Y0, x, Y1))
            outcomes.append(("ok", result.edit.pk))
        except EditError as exc:
            outcomes.append((exc.code, exc.where))
        finally:
            connection.close()

    threads = [threading.Thread(target=edit, args=(x,)) for x in (98.0025, 98.003)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o[0] for o in outcomes) == ["ok", "stale_version"]
    assert GridUnit.objects.get(code=A).version == 2
    assert UnitEdit.objects.count() == 1


def test_a_sibling_that_only_touches_the_moved_strip_is_not_changed(city):
    editing.split(city["a"].pk, 1, LineString([(97.999, 39.001), (98.003, 39.001)]))
    south = GridUnit.objects.get(code=f"{N1}003")  # the southern half of A
    # B takes a strip of the northern half of A; the strip's lower edge lies on A3's edge.
    result = editing.reshape(
        city["b"].pk,
        1,
        sbox(98.002, Y0, 98.004, Y1).union(sbox(98.0015, 39.001, 98.002, Y1)),
    )
    assert {u["code"] for u in result.units} == {A, B}
    assert GridUnit.objects.get(pk=south.pk).version == 1


def test_areas_before_and_after_add_up_even_with_holes(world):
    # G2's holes are wound like its shell; the reported areas must still take them off.
    result = editing.merge(world["g1"].pk, 1, world["g2"].pk, 1, preview=True)
    rows = {u["code"]: u for u in result.units}
    g1, g2 = rows[world["g1"].code], rows[world["g2"].code]
    assert g1["area_m2_after"] == pytest.approx(g1["area_m2_before"] + g2["area_m2_before"], abs=1)
