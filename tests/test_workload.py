"""Specification of workload and staffing (docs/workload.md): what each grid carries against its
target (households, residents, the visits the colours owe, open incidents), the community staff
standard against the posts held, the rebalance proposal of a node (moves that hold the topology
and bring every grid within ±15 % where the buildings allow it) and who may ask for what."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.contrib.gis.geos import Point
from django.core.management import call_command
from django.urls import reverse
from shapely.geometry import shape

from gridmap import editing, topology
from gridmap.models import GridUnit, StaffMember, UnitEdit
from layers import workload
from layers.models import Building, Household, Incident
from tests.conftest import G1, G2, G3, NODE, box

pytestmark = pytest.mark.django_db

# The conftest world with a target of 20 households a grid (band 17–23): G1 carries 28 (40 %
# over), G2 14 (30 % under), G3 20. G1 and G2 share the edge x = 98.002; four small buildings of
# two households stand 26 m west of it, the rest of G1 lives further west.
TARGET = 20
EDGE_BUILDINGS = [(98.0017, y) for y in (39.0003, 39.0008, 39.0013, 39.0018)]
INNER_BUILDINGS = [(98.0005, y) for y in (39.0003, 39.0008, 39.0013, 39.0018)]
MARCH_10 = dt.date(2025, 3, 10)  # March has 31 days


def building(lon: float, lat: float, households: int, half: float = 0.00004, **fields) -> Building:
    made = Building.objects.create(
        name=fields.pop("name", f"{lon:.4f},{lat:.4f}"),
        footprint=box(lon - half, lat - half, lon + half, lat + half),
        **fields,
    )
    for i in range(households):
        Household.objects.create(building=made, room=f"{i + 1:03d}", residents=2)
    return made


@pytest.fixture
def node(world) -> GridUnit:
    node = world["node"]
    node.target_households = TARGET
    node.save()
    return node


@pytest.fixture
def unbalanced(world, node) -> dict:
    edge = [building(x, y, 2, name=f"边{i + 1}号楼") for i, (x, y) in enumerate(EDGE_BUILDINGS)]
    for x, y in INNER_BUILDINGS:
        building(x, y, 5)
    building(98.0023, 39.0017, 7)
    building(98.0036, 39.0004, 7)
    building(98.0050, 39.0010, 20)
    return {**world, "edge": edge}


def households_by_grid() -> dict[str, int]:
    return {
        g.code: g.households.count() for g in GridUnit.objects.filter(level="grid").order_by("code")
    }


def problems(code: str) -> dict:
    report = topology.check(code)
    return {
        "gaps": sorted(round(g.area_m2) for g in report.gaps),
        "overlaps": report.overlaps,
        "outside": report.outside,
        "bad_codes": report.bad_codes,
        "order": report.order,
    }


# --- per grid -----------------------------------------------------------------------------------


def test_each_grid_counts_households_residents_and_is_flagged_at_fifteen_percent(unbalanced):
    answer = workload.grid_workload(unbalanced["node"], MARCH_10)
    rows = {g["code"]: g for g in answer["grids"]}
    assert list(rows) == [G1, G2, G3]
    assert [rows[c]["households"] for c in (G1, G2, G3)] == [28, 14, 20]
    assert rows[G1]["residents"] == 56
    assert rows[G1]["target"] == TARGET
    assert rows[G1]["band"] == [17.0, 23.0]
    assert (rows[G1]["ratio"], rows[G1]["flag"]) == (1.4, "over")
    assert (rows[G2]["ratio"], rows[G2]["flag"]) == (0.7, "under")
    assert rows[G3]["flag"] == "ok"
    assert rows[G1]["node"] == unbalanced["node"].id
    total = answer["total"]
    assert (total["grids"], total["households"], total["over"], total["under"], total["ok"]) == (
        3,
        62,
        1,
        1,
        1,
    )


def test_a_grid_just_inside_the_band_is_ok_and_just_outside_is_not():
    assert workload.flag(23, 20) == "ok"
    assert workload.flag(24, 20) == "over"
    assert workload.flag(17, 20) == "ok"
    assert workload.flag(16, 20) == "under"
    assert workload.flag(287, 250) == "ok"
    assert workload.flag(288, 250) == "over"


def test_visits_owed_a_month_come_from_the_colours(unbalanced):
    g2 = Household.objects.filter(grid__code=G2).order_by("id")
    for household, color in zip(g2, ["red", "orange", "blue", "blue"], strict=False):
        Household.objects.filter(pk=household.pk).update(color=color)
    rows = {g["code"]: g for g in workload.grid_workload(unbalanced["node"], MARCH_10)["grids"]}
    # 31 days of March for red, 31/7 weeks for orange, 1 for each blue, 1/3 for each of 10 green.
    assert rows[G2]["visits_by_color"] == {
        "red": 31.0,
        "orange": 4.43,
        "yellow": 0,
        "blue": 2.0,
        "green": 3.33,
    }
    assert rows[G2]["visits_owed_per_month"] == 40.76
    assert rows[G2]["households_by_color"] == {
        "red": 1,
        "orange": 1,
        "yellow": 0,
        "blue": 2,
        "green": 10,
    }
    assert rows[G1]["visits_owed_per_month"] == round(28 / 3, 2)


def test_open_incidents_are_counted_closed_cancelled_and_rated_ones_are_not(unbalanced):
    statuses = ["received", "handling", "backlog", "closed", "cancelled", "rated"]
    for status in statuses:
        Incident.objects.create(category="noise", location=Point(98.001, 39.001), status=status)
    Incident.objects.create(category="parking", location=Point(98.005, 39.001))
    rows = {g["code"]: g for g in workload.grid_workload(unbalanced["node"], MARCH_10)["grids"]}
    assert [rows[c]["open_incidents"] for c in (G1, G2, G3)] == [3, 0, 1]


def test_a_segment_lists_the_grids_of_all_its_nodes(unbalanced):
    answer = workload.grid_workload(unbalanced["segment"], MARCH_10)
    assert [g["code"] for g in answer["grids"]] == [G1, G2, G3]
    assert answer["total"]["households"] == 62


# --- per node -----------------------------------------------------------------------------------


def test_staff_required_by_the_standard_against_the_posts_held(unbalanced):
    world = unbalanced
    StaffMember.objects.create(unit=world["node"], role="community_lead", name="王芳")
    StaffMember.objects.create(unit=world["g2"], role="grid_instructor", name="赵强")
    StaffMember.objects.create(unit=world["g2"], role="part_time_member", name="陈静")
    # A street's own staff belong to no community.
    StaffMember.objects.create(unit=world["segment"], role="community_lead", name="刘洋")
    [row] = workload.node_staffing(world["segment"])
    assert (row["code"], row["households"], row["grids"]) == (NODE, 62, 3)
    assert row["required_staff"] == 11  # ≤ 1,000 households
    # Community lead, grid leader, grid instructor, full-time worker; not the part-time member.
    assert row["assigned_staff"] == 4
    assert row["staff_gap"] == -7
    assert row["staff_by_role"] == {
        "grid_leader": 1,
        "grid_instructor": 1,
        "full_time_worker": 1,
        "part_time_member": 1,
        "community_lead": 1,
    }
    assert (row["grids_over"], row["grids_under"]) == (1, 1)
    # One full-time worker per 20 households (the target): 62 → 4; one is posted.
    assert (row["grid_workers_needed"], row["grid_workers"]) == (4, 1)


def test_the_standard_grows_with_the_households_of_the_node(world):
    node = world["node"]
    b = Building.objects.create(footprint=box(98.0005, 39.0005, 98.0006, 39.0006))
    Household.objects.bulk_create(
        [Household(building=b, grid=world["g1"], residents=1) for _ in range(1500)]
    )
    [row] = workload.node_staffing(node)
    assert (row["households"], row["required_staff"]) == (1500, 16)
    assert row["grids_over"] == 1  # G1 carries 1,500 against 250


# --- rebalancing --------------------------------------------------------------------------------


def test_the_proposal_moves_edge_buildings_until_every_grid_is_within_the_band(unbalanced):
    proposal = workload.rebalance(unbalanced["node"])
    assert proposal["balanced"] and proposal["reason"] == "balanced"
    moves = proposal["moves"]
    assert [(m["from"]["code"], m["to"]["code"], m["households"]) for m in moves] == [
        (G1, G2, 2)
    ] * 3
    edge_ids = {b.id for b in unbalanced["edge"]}
    assert all(len(m["buildings"]) == 1 and m["buildings"][0]["id"] in edge_ids for m in moves)
    assert [m["step"] for m in moves] == [1, 2, 3]
    after = {g["code"]: (g["households_before"], g["households_after"]) for g in proposal["grids"]}
    assert after == {G1: (28, 22), G2: (14, 20), G3: (20, 20)}
    assert all(g["flag_after"] == "ok" for g in proposal["grids"])
    # Each move carries what the editor's transfer needs: the receiving grid, the versions the
    # previous moves leave, the area.
    g2, g1 = unbalanced["g2"].id, unbalanced["g1"].id
    assert [m["transfer"]["unit"] for m in moves] == [g2] * 3
    assert [m["transfer"]["version"] for m in moves] == [1, 2, 3]
    assert [m["transfer"]["versions"] for m in moves] == [{str(g1): v} for v in (1, 2, 3)]
    for m in moves:
        area = shape(m["area"])
        assert area.is_valid and area.within(shape(m["footprints"]).buffer(0.001))
        assert len(m["arrow"]) == 2
    assert proposal["refused"] == []


def test_the_proposal_writes_nothing(unbalanced):
    before = households_by_grid()
    versions = dict(GridUnit.objects.values_list("id", "version"))
    workload.rebalance(unbalanced["node"])
    assert households_by_grid() == before
    assert dict(GridUnit.objects.values_list("id", "version")) == versions
    assert not UnitEdit.objects.exists()


def test_applying_the_moves_through_the_editor_balances_the_node_and_keeps_the_topology(
    unbalanced,
):
    before = problems(NODE)
    assert before["gaps"] and not before["overlaps"]  # hole B of G2 was a gap already
    proposal = workload.rebalance(unbalanced["node"])
    for move in proposal["moves"]:
        t = move["transfer"]
        # What a planner does with each move: the editor's transfer, committed.
        editing.transfer(
            t["unit"],
            t["version"],
            shape(move["area"]),
            versions={int(k): v for k, v in t["versions"].items()},
        )
    assert households_by_grid() == {G1: 22, G2: 20, G3: 20}
    answer = workload.grid_workload(unbalanced["node"], MARCH_10)
    assert [g["flag"] for g in answer["grids"]] == ["ok", "ok", "ok"]
    assert problems(NODE) == before
    # Three of the four edge buildings are G2's now, and G1 is still in one piece.
    moved = [b.grid_id for b in Building.objects.filter(pk__in=[b.id for b in unbalanced["edge"]])]
    assert sorted(moved) == sorted([unbalanced["g1"].id] + [unbalanced["g2"].id] * 3)
    assert len(GridUnit.objects.get(code=G1).geom) == 1
    # Asked again, nothing is left to do.
    again = workload.rebalance(unbalanced["node"])
    assert (again["reason"], again["moves"]) == ("balanced", [])


def test_a_node_where_no_move_helps_gets_an_empty_proposal_with_the_reason(world, node):
    building(98.0017, 39.0010, 28)  # G1's one building: moving it would empty G1
    building(98.0023, 39.0017, 14)
    building(98.0050, 39.0010, 20)
    proposal = workload.rebalance(node)
    assert proposal["moves"] == []
    assert (proposal["balanced"], proposal["reason"]) == (False, "no_move_helps")
    assert "no building can be handed" in proposal["detail"]
    assert [g["households_after"] for g in proposal["grids"]] == [28, 14, 20]


def test_grids_out_of_balance_that_do_not_border_each_other_get_the_reason(world, node):
    building(98.0010, 39.0010, 14)  # G1 under
    building(98.0023, 39.0017, 20)  # G2 at its target
    building(98.0050, 39.0010, 28)  # G3 over, and not G1's neighbour
    proposal = workload.rebalance(node)
    assert (proposal["moves"], proposal["reason"]) == ([], "no_neighbour")


def test_a_balanced_node_needs_no_move(world, node):
    for x, y in ((98.0010, 39.0010), (98.0023, 39.0017), (98.0050, 39.0010)):
        building(x, y, 20)
    proposal = workload.rebalance(node)
    assert (proposal["balanced"], proposal["reason"], proposal["moves"]) == (True, "balanced", [])


def test_a_move_that_would_cut_the_giving_grid_in_two_is_refused_and_reported(world, node):
    # A long building across nearly all of G1: handing it over would leave G1 in two pieces.
    long = Building.objects.create(
        name="长楼", footprint=box(98.00001, 39.00098, 98.00199, 39.00102)
    )
    for i in range(4):
        Household.objects.create(building=long, room=str(i), residents=2)
    building(98.0005, 39.0018, 24)
    building(98.0023, 39.0017, 14)
    building(98.0050, 39.0010, 20)
    proposal = workload.rebalance(node)
    assert proposal["moves"] == []
    [refused] = proposal["refused"]
    assert refused["error"] == "would_split"
    assert refused["buildings"] == [{"id": long.id, "name": "长楼"}]
    assert (refused["from"]["code"], refused["to"]["code"]) == (G1, G2)
    assert proposal["reason"] == "no_move_helps"


def test_neighbours_share_an_edge_not_a_corner(world):
    pairs = workload.neighbours(world["node"])
    ids = {world[k].id: k for k in ("g1", "g2", "g3")}
    assert {tuple(sorted((ids[a], ids[b]))) for a, b in pairs} == {("g1", "g2"), ("g2", "g3")}


def test_rebalancing_is_per_node():
    segment = GridUnit(level="segment", code="620200001")
    with pytest.raises(workload.RebalanceError):
        workload.rebalance(segment)


# --- the API ------------------------------------------------------------------------------------


def test_viewer_reads_the_grid_workload_and_staffing(unbalanced, viewer_api):
    node = unbalanced["node"]
    answer = viewer_api.get(reverse("workload-grids"), {"node": node.id, "date": "2025-03-10"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["unit"]["code"] == NODE and body["date"] == "2025-03-10"
    assert [g["flag"] for g in body["grids"]] == ["over", "under", "ok"]
    assert "head_name" not in str(body)
    nodes = viewer_api.get(reverse("workload-nodes"), {"segment": unbalanced["segment"].id})
    assert nodes.status_code == 200
    assert nodes.json()["nodes"][0]["required_staff"] == 11
    by_network = viewer_api.get(reverse("workload-nodes"), {"network": unbalanced["network"].id})
    assert [n["code"] for n in by_network.json()["nodes"]] == [NODE]


def test_a_wider_tolerance_flags_fewer_grids(unbalanced, viewer_api):
    body = viewer_api.get(
        reverse("workload-grids"), {"node": unbalanced["node"].id, "tolerance": "0.45"}
    ).json()
    assert [g["flag"] for g in body["grids"]] == ["ok", "ok", "ok"]


@pytest.mark.parametrize(
    ("params", "status", "error"),
    [
        ({}, 400, "missing_parameter"),
        ({"node": "x"}, 400, "invalid_node"),
        ({"node": "999999"}, 404, "not_found"),
        ({"tolerance": "2"}, 400, "invalid_tolerance"),
        ({"date": "10.3.2025"}, 400, "invalid_date"),
    ],
)
def test_bad_requests_answer_in_the_one_error_shape(unbalanced, viewer_api, params, status, error):
    if params.get("tolerance") or params.get("date"):
        params = {**params, "node": unbalanced["node"].id}
    answer = viewer_api.get(reverse("workload-grids"), params)
    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert " / " in answer.json()["detail"]


def test_a_grid_is_not_a_node(unbalanced, viewer_api):
    answer = viewer_api.get(reverse("workload-grids"), {"node": unbalanced["g1"].id})
    assert answer.status_code == 404


def test_grid_staff_see_their_communitys_figures_which_are_counts_only(unbalanced, api_as):
    from rest_framework.authtoken.models import Token

    worker = api_as("grid_worker")
    user = Token.objects.get(key=worker._credentials["HTTP_AUTHORIZATION"].split()[1]).user
    StaffMember.objects.create(unit=unbalanced["g1"], role="full_time_worker", name="周", user=user)
    answer = worker.get(reverse("workload-grids"), {"node": unbalanced["node"].id})
    assert answer.status_code == 200
    text = answer.content.decode()
    assert "head_name" not in text and "head_phone" not in text


@pytest.mark.parametrize("name", ["workload-grids", "workload-nodes", "workload-rebalance"])
def test_anonymous_users_and_users_without_a_role_get_nothing(unbalanced, api_as, client, name):
    params = {"node": unbalanced["node"].id}
    anonymous = client.get(reverse(name), params)
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "not_authenticated")
    assert NODE not in anonymous.content.decode()
    assert api_as(None).get(reverse(name), params).status_code == 403


def test_only_planners_may_ask_for_a_rebalance(unbalanced, viewer_api, api_as):
    url = reverse("workload-rebalance")
    refused = viewer_api.get(url, {"node": unbalanced["node"].id})
    assert refused.status_code == 403
    assert refused.json()["error"] == "permission_denied"
    answer = api_as("planner").get(url, {"node": unbalanced["node"].id})
    assert answer.status_code == 200
    body = answer.json()
    assert len(body["moves"]) == 3
    g2 = unbalanced["g2"].id
    assert body["moves"][0]["transfer"]["url"] == f"/api/units/{g2}/transfer/"


def test_a_proposal_move_applies_through_the_editors_transfer_endpoint(unbalanced, api_as):
    planner = api_as("planner")
    proposal = planner.get(reverse("workload-rebalance"), {"node": unbalanced["node"].id}).json()
    move = proposal["moves"][0]
    t = move["transfer"]
    body = {"version": t["version"], "versions": t["versions"], "area": move["area"]}
    preview = planner.post(t["url"], {**body, "preview": True}, format="json")
    assert preview.status_code == 200
    load = {row["code"]: row["households_after"] for row in preview.json()["load"]}
    assert load == {G1: 26, G2: 16}
    assert planner.post(t["url"], body, format="json").status_code == 201
    assert households_by_grid()[G1] == 26


def test_apply_makes_all_moves_in_one_go_and_a_stale_proposal_gets_409(unbalanced, api_as):
    planner = api_as("planner")
    node = unbalanced["node"].id
    proposal = planner.get(reverse("workload-rebalance"), {"node": node}).json()
    url = reverse("workload-rebalance-apply")
    answer = planner.post(url, {"node": node, "moves": proposal["moves"]}, format="json")
    assert answer.status_code == 201
    assert len(answer.json()["edits"]) == 3
    assert households_by_grid() == {G1: 22, G2: 20, G3: 20}
    stale = planner.post(url, {"node": node, "moves": proposal["moves"]}, format="json")
    assert stale.status_code == 409
    assert stale.json()["error"] == "stale_version"
    assert households_by_grid() == {G1: 22, G2: 20, G3: 20}
    assert UnitEdit.objects.count() == 3


def test_apply_refuses_viewers_foreign_grids_and_malformed_moves(unbalanced, api_as, viewer_api):
    url = reverse("workload-rebalance-apply")
    node = unbalanced["node"].id
    area = {
        "type": "Polygon",
        "coordinates": [[[98.0, 39.0], [98.001, 39.0], [98.0, 39.001], [98.0, 39.0]]],
    }
    foreign = {"area": area, "transfer": {"unit": unbalanced["network"].id, "version": 1}}
    assert (
        viewer_api.post(url, {"node": node, "moves": [foreign]}, format="json").status_code == 403
    )
    planner = api_as("planner")
    answer = planner.post(url, {"node": node, "moves": [foreign]}, format="json")
    assert answer.status_code == 400
    assert answer.json()["where"] == "moves[0]"
    g2 = unbalanced["g2"].id
    no_version = {"area": area, "transfer": {"unit": g2, "version": "1"}}
    answer = planner.post(url, {"node": node, "moves": [no_version]}, format="json")
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid")
    bad_area = {
        "area": {"type": "Point", "coordinates": [98, 39]},
        "transfer": {"unit": g2, "version": 1},
    }
    answer = planner.post(url, {"node": node, "moves": [bad_area]}, format="json")
    assert answer.status_code == 400
    assert answer.json()["where"] == "moves[0].area"
    assert not UnitEdit.objects.exists()


def test_the_workload_endpoints_are_in_the_schema_without_warnings(db):
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    for path in ("grids", "nodes", "rebalance", "rebalance/apply"):
        assert f"/api/workload/{path}/:" in out.getvalue()
