"""Specification of the demo data: the synthetic-city generator, the 利民社区 fixture of seed
004 and their loading into PostGIS."""

from __future__ import annotations

import math
from io import StringIO

import numpy as np
import pandas as pd
import pytest
import shapely
from django.core.management import call_command
from django.db import connection

from gridmap import codes
from gridmap.models import GridUnit, StaffMember
from layers.demo import limin
from layers.demo.loader import load_city
from layers.demo.synthcity import (
    COLORS,
    City,
    LocalFrame,
    StreetLine,
    generate_city,
    synthetic_outline,
    tessellate,
)
from layers.models import Building, Camera, Facility, Household, Road

SQUARE_METRE = 1.0
SMALL = {
    "network_code": "330212",
    "network_name": "测试区",
    "households": 6000,
    "segments": 2,
    "nodes": 5,
    "seed": 11,
}


def small_city(**overrides) -> City:
    args = {**SMALL, "outline_wgs84": synthetic_outline(121.54, 29.82, 3.0, seed=1), **overrides}
    return generate_city(**args)


@pytest.fixture(scope="module")
def city() -> City:
    return small_city(household_points=True)


@pytest.fixture(scope="module")
def jiayuguan() -> City:
    return limin.load_fixture()


def in_metres(city: City) -> np.ndarray:
    network = city.units.geometry.iloc[0]
    return LocalFrame.around(network).to_metric(city.units.geometry.values)


def children_of(units, code: str) -> np.ndarray:
    return np.flatnonzero((units["parent_code"] == code).to_numpy())


# --- the generator --------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["city", "jiayuguan"])
def test_children_tile_their_parent_without_gap_or_overlap_at_every_level(which, request):
    made = request.getfixturevalue(which)
    units, metric = made.units, in_metres(made)
    for i, code in enumerate(units["code"]):
        kids = children_of(units, code)
        if units["level"].iloc[i] == "grid":
            assert not len(kids)
            continue
        assert len(kids), f"{code} has no children"
        union = shapely.union_all(metric[kids])
        assert shapely.area(shapely.difference(metric[i], union)) < SQUARE_METRE, code
        assert shapely.area(shapely.difference(union, metric[i])) < SQUARE_METRE, code
        assert shapely.area(metric[kids]).sum() - shapely.area(union) < SQUARE_METRE, code


def test_siblings_share_identical_boundary_vertices(city):
    units = city.units
    for code in units.loc[units["level"] != "grid", "code"]:
        siblings = units.geometry.values[children_of(units, code)]
        # A valid coverage: no overlaps and every shared edge matches vertex for vertex.
        assert shapely.coverage_is_valid(siblings), code


def test_every_geometry_is_valid_with_7_decimals(city):
    for layer in (city.units, city.buildings, city.roads, city.cameras, city.facilities):
        geoms = layer.geometry.values
        assert shapely.is_valid(geoms).all()
        xy = shapely.get_coordinates(geoms)
        assert np.array_equal(np.round(xy, 7), xy)
    assert set(city.units.geom_type) == {"MultiPolygon"}


def test_blocks_that_rounding_to_7_decimals_would_break_merge_with_a_neighbour():
    # A street with a 40 m spike only 1 mm wide: rounding collapses the spike, which leaves
    # both blocks beside it self-intersecting. Merged, the spike is gone and the rest is exact.
    frame = LocalFrame(98.29, 39.8)
    square = shapely.box(-300, -300, 300, 300)
    spike = [(0, -400), (0, 0), (40, 0), (0, 0.001), (0, 400)]
    lines = [
        StreetLine("尖角路", "street", shapely.LineString(spike), forced=True),
        StreetLine("横路", "street", shapely.LineString([(-400, 150), (400, 150)]), forced=True),
    ]
    rng = np.random.default_rng(1)
    raw = tessellate(square, lines, rng, min_area=100)
    assert not shapely.is_valid(frame.to_wgs84(raw.blocks)).all()
    fixed = tessellate(square, lines, rng, min_area=100, frame=frame)
    assert shapely.is_valid(frame.to_wgs84(fixed.blocks)).all()
    assert len(fixed.blocks) == len(raw.blocks) - 1
    assert shapely.area(fixed.blocks).sum() == pytest.approx(square.area)


def test_codes_follow_db11_t_2157_with_parents_one_level_up(city, jiayuguan):
    for made in (city, jiayuguan):
        for unit in made.units.itertuples():
            parent = None if unit.level == "network" else unit.parent_code
            codes.validate_code(unit.code, unit.level, parent)
        assert made.units["code"].is_unique


def test_grids_are_numbered_west_to_east_north_to_south(city):
    units = city.units
    metric = in_metres(city)
    for node in units.loc[units["level"] == "node", "code"]:
        kids = children_of(units, node)
        numbers = [int(c[-3:]) for c in units["code"].iloc[kids]]
        assert sorted(numbers) == list(range(1, len(kids) + 1))
        xy = shapely.get_coordinates(shapely.centroid(metric[kids]))
        row = math.sqrt(float(np.median(shapely.area(metric[kids]))))
        for a in range(len(kids)):
            for b in range(len(kids)):
                a_row_north = xy[a, 1] - xy[b, 1] > 1.5 * row
                same_row_west = abs(xy[a, 1] - xy[b, 1]) < 0.1 * row and xy[a, 0] < xy[b, 0] - row
                if a_row_north or same_row_west:
                    assert numbers[a] < numbers[b], (node, numbers[a], numbers[b])


def test_same_seed_gives_the_same_city_and_another_seed_another():
    first, again, other = small_city(), small_city(), small_city(seed=12)
    for name in City.GEO_LAYERS:
        a, b = getattr(first, name), getattr(again, name)
        pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
        assert shapely.equals_exact(a.geometry.values, b.geometry.values, 0).all()
    for name in City.TABLES:
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name))
    assert not first.households.equals(other.households)


def test_household_count_is_exactly_as_asked(city):
    assert len(city.households) == SMALL["households"]
    assert len(small_city(households=5999, seed=3).households) == 5999


def test_asked_number_of_grids_is_exact_and_units_are_as_many_as_asked():
    made = small_city(grids=40)
    levels = made.units["level"].value_counts()
    assert (levels["segment"], levels["node"], levels["grid"]) == (2, 5, 40)


def test_grids_hold_about_the_target_number_of_households(city):
    homes = city.households.merge(
        city.buildings[["key"]].assign(grid=grid_of_buildings(city)),
        left_on="building_key",
        right_on="key",
    )
    per_grid = homes.groupby("grid").size()
    assert len(per_grid) == (city.units["level"] == "grid").sum()
    assert 0.5 * 250 < per_grid.median() < 1.5 * 250


def grid_of_buildings(made: City) -> np.ndarray:
    grids = made.units.loc[made.units["level"] == "grid"]
    tree = shapely.STRtree(grids.geometry.values)
    anchor = shapely.point_on_surface(made.buildings.geometry.values)
    pairs = tree.query(anchor, predicate="within")
    assert np.array_equal(np.sort(pairs[0]), np.arange(len(anchor))), "one grid per building"
    out = np.empty(len(anchor), dtype=object)
    out[pairs[0]] = grids["code"].to_numpy()[pairs[1]]
    return out


def test_buildings_do_not_overlap_and_addresses_are_unique(city):
    footprints = city.buildings.geometry.values
    pairs = shapely.STRtree(footprints).query(footprints, predicate="intersects")
    assert (pairs[0] == pairs[1]).all()
    address = city.buildings["road"] + city.buildings["number"]
    assert address.is_unique
    assert address.str.fullmatch(r".+(路|街|大道|巷)\d+号").all()


def test_households_live_in_flats_their_building_has(city):
    h = city.households.merge(city.buildings, left_on="building_key", right_on="key")
    assert (h["unit_no"].between(1, h["units"])).all()
    assert (h["floor"].between(1, h["floors"])).all()
    assert (h["room"].str[:-2].astype(int) == h["floor"]).all()
    assert not h.duplicated(["building_key", "unit_no", "room"]).any()
    assert set(h["kind"]) == {"residential"}


def test_household_counts_are_consistent_and_colors_spread_as_planned(city):
    h = city.households
    assert (h["residents"] >= 1).all()
    for name in ("aged_60_plus", "disabled", "floating", "retired", "unemployed", "party_members"):
        assert (h[name].between(0, h["residents"])).all(), name
    shares = h["color"].value_counts(normalize=True)
    assert list(shares.index[::-1][:4]) == list(COLORS[:4])
    assert abs(shares["red"] - 0.01) < 0.002 and abs(shares["blue"] - 0.15) < 0.002
    assert (
        h.groupby("color")["disabled"].mean()["red"]
        > h.groupby("color")["disabled"].mean()["green"]
    )
    assert h["head_phone"].str.fullmatch(r"1380000\d{4}").all()


def test_household_points_lie_inside_their_own_building(city):
    h = city.households
    footprint = city.buildings.set_index("key").geometry.loc[h["building_key"]].values
    points = shapely.points(h["lon"].to_numpy(), h["lat"].to_numpy())
    assert shapely.contains_properly(footprint, points).all()
    assert small_city().households[["lon", "lat"]].isna().all().all()


def test_every_grid_has_its_staff_and_every_community_a_lead(city):
    staff = city.staff
    grids = city.units.loc[city.units["level"] == "grid", "code"]
    roles = staff.groupby("unit_code")["role"].value_counts().unstack(fill_value=0)
    for role in ("grid_leader", "grid_instructor", "full_time_worker"):
        assert (roles.loc[grids, role] == 1).all()
    assert roles.loc[grids, "part_time_member"].between(1, 3).all()
    nodes = city.units.loc[city.units["level"] == "node", "code"]
    assert (roles.loc[nodes, "community_lead"] == 1).all()


def test_cameras_look_somewhere_sensible(city):
    cams = city.cameras
    assert cams["bearing"].between(0, 360).all()
    assert set(cams.loc[cams["fov"] < 360, "fov"].between(60, 120)) == {True}
    assert (cams["fov"] == 360).any()
    assert cams["range_m"].between(30, 120).all()
    assert (cams["status"] == "online").mean() > 0.8
    assert cams["code"].is_unique


def test_roads_are_split_at_crossings_and_named(city):
    roads = city.roads
    assert set(roads["kind"]) <= {"arterial", "street", "path"}
    assert (roads["name"] != "").all()
    assert roads.geom_type.eq("LineString").all()
    # Split at crossings: no two pieces cross in their interiors.
    lines = roads.geometry.values
    pairs = shapely.STRtree(lines).query(lines, predicate="crosses")
    assert len(pairs[0]) == 0


# --- 利民社区 as seed 004 describes it ------------------------------------------------------


def limin_rows(made: City) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    node = made.units.loc[made.units["name"] == limin.NODE].iloc[0]
    grids = made.units.loc[made.units["parent_code"] == node["code"]]
    homes = made.buildings.loc[made.buildings["kind"] == "residential"]
    return node, grids, homes


def test_limin_fixture_has_seed_004_totals_and_layout(jiayuguan):
    _, grids, homes = limin_rows(jiayuguan)
    assert len(grids) == 9
    assert len(homes) == limin.RESIDENTIAL_BUILDINGS == 61
    h = jiayuguan.households
    assert len(h) == limin.TOTALS["households"]
    for name, total in limin.TOTALS.items():
        if name != "households":
            assert h[name].sum() == total, name
    assert set(h["color"]) == set(COLORS)


def test_limin_lies_between_its_four_boundaries_and_xinhua_north_road_47_is_on_its_west(jiayuguan):
    node, _, homes = limin_rows(jiayuguan)
    frame = LocalFrame(*limin.CENTRE)
    area = shapely.area(frame.to_metric(node.geometry)) / 1e6
    assert area == pytest.approx(0.06, rel=0.10)
    no_47 = homes.loc[(homes["road"] == "新华北路") & (homes["number"] == "47号")]
    assert len(no_47) == 1
    x, _ = shapely.get_coordinates(frame.to_metric(no_47.geometry.iloc[0].centroid))[0]
    assert x < -limin.HALF_W / 3, "新华北路47号 stands in Limin's western third"
    roads = set(jiayuguan.roads["name"])
    assert {"新华北路", "五一北路", "嘉兴东路"} <= roads
    assert set(homes["road"]) == {"新华北路", "五一北路", "嘉兴东路"}


def test_limin_is_the_only_community_with_people(jiayuguan):
    node, _, homes = limin_rows(jiayuguan)
    assert homes["key"].isin(jiayuguan.households["building_key"]).all()
    inside = shapely.covers(
        node.geometry, shapely.point_on_surface(jiayuguan.buildings.geometry.values)
    )
    assert inside.all()


def test_jiayuguan_has_gangcheng_and_other_street_offices_each_with_communities(jiayuguan):
    units = jiayuguan.units
    segments = units.loc[units["level"] == "segment"]
    assert 3 <= len(segments) <= 5 and limin.SEGMENT in set(segments["name"])
    for code in segments["code"]:
        assert len(children_of(units, code)) >= 1
    node, _, _ = limin_rows(jiayuguan)
    assert units.set_index("code").loc[node["parent_code"], "name"] == limin.SEGMENT
    assert set(jiayuguan.facilities["kind"]) == {
        "party",
        "government",
        "committee",
        "medical",
        "elderly",
        "education",
        "culture",
        "sports",
        "recreation",
        "commerce",
    }


def test_committed_limin_files_are_what_the_script_builds(jiayuguan):
    built = limin.build()
    for name in City.GEO_LAYERS:
        a, b = getattr(built, name), getattr(jiayuguan, name)
        assert len(a) == len(b), name
        assert shapely.equals_exact(a.geometry.values, b.geometry.values, 0).all(), name
    for name in City.TABLES:
        a, b = getattr(built, name), getattr(jiayuguan, name)
        pd.testing.assert_frame_equal(a.reset_index(drop=True).astype(str), b.astype(str))


def test_limin_files_stay_small():
    size = sum(p.stat().st_size for p in limin.FOLDER.iterdir())
    assert size < 1.5 * 2**20


# --- in PostGIS -------------------------------------------------------------------------------


@pytest.fixture
def loaded(db, jiayuguan) -> GridUnit:
    load_city(jiayuguan)
    return GridUnit.objects.get(name=limin.NODE)


def scalar(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_limin_totals_equal_seed_004(loaded):
    in_grids = Household.objects.filter(grid__parent=loaded)
    in_buildings = Household.objects.filter(building__grid__parent=loaded)
    for rows in (in_grids, in_buildings):
        assert rows.count() == limin.TOTALS["households"]
        for name, total in limin.TOTALS.items():
            if name != "households":
                sql = f"SELECT sum({name}) FROM layers_household WHERE id = ANY(%s)"
                assert scalar(sql, [list(rows.values_list("id", flat=True))]) == total, name


@pytest.mark.django_db
def test_limin_has_61_residential_buildings_and_9_grids_in_the_database(loaded):
    assert GridUnit.objects.grids_of(loaded).count() == 9
    homes = Building.objects.filter(grid__parent=loaded, kind=Building.Kind.RESIDENTIAL)
    assert homes.count() == 61
    assert homes.filter(road="新华北路", number="47号").exists()


@pytest.mark.django_db
def test_limin_area_is_0_06_km2_on_the_ellipsoid(loaded):
    area = scalar(
        "SELECT ST_Area(geom::geography) FROM gridmap_gridunit WHERE id = %s", [loaded.id]
    )
    assert area / 1e6 == pytest.approx(0.06, rel=0.10)


@pytest.mark.django_db
def test_children_tile_their_parent_in_postgis(loaded):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT p.code,
                   ST_Area(ST_SymDifference(p.geom, ST_Union(c.geom))::geography),
                   sum(ST_Area(c.geom::geography)) - ST_Area(ST_Union(c.geom)::geography)
              FROM gridmap_gridunit p JOIN gridmap_gridunit c ON c.parent_id = p.id
             WHERE p.code LIKE %s
             GROUP BY p.id
            """,
            [f"{limin.NETWORK_CODE}%"],
        )
        rows = cursor.fetchall()
    assert (
        len(rows)
        == GridUnit.objects.exclude(level="grid").filter(code__startswith="620200").count()
    )
    for code, symmetric_difference, overlap in rows:
        assert symmetric_difference < SQUARE_METRE, code
        assert overlap < SQUARE_METRE, code


@pytest.mark.django_db
def test_loading_puts_every_row_in_a_grid_and_staff_on_every_grid(loaded, jiayuguan):
    for model in (Building, Household, Camera, Facility):
        assert not model.objects.filter(grid__isnull=True).exists(), model.__name__
    assert Road.objects.count() == len(jiayuguan.roads)
    assert StaffMember.objects.count() == len(jiayuguan.staff)
    grids = GridUnit.objects.filter(level="grid")
    assert not grids.exclude(staff__role="full_time_worker").exists()
    network = GridUnit.objects.get(code=limin.NETWORK_CODE)
    assert network.target_households == 250


@pytest.mark.django_db
def test_load_demo_skips_a_loaded_network_and_replace_reloads_it():
    out = StringIO()
    call_command("load_demo", network=[limin.NETWORK_CODE], stdout=out)
    call_command("load_demo", network=[limin.NETWORK_CODE], stdout=out)
    assert "already loaded, skipped" in out.getvalue()
    assert Household.objects.count() == limin.TOTALS["households"]
    call_command("load_demo", network=[limin.NETWORK_CODE], replace=True, stdout=out)
    assert Household.objects.count() == limin.TOTALS["households"]
    assert GridUnit.objects.filter(code=limin.NETWORK_CODE).count() == 1
    assert Road.objects.count() == len(limin.load_fixture().roads)


@pytest.mark.django_db
def test_demo_grid_worker_is_staff_of_a_limin_grid_and_may_act_on_its_cases():
    from django.contrib.auth.models import User

    from layers import workflow
    from layers.models import Incident

    call_command("load_demo", network=[limin.NETWORK_CODE], stdout=StringIO())
    call_command("create_demo_users", stdout=StringIO())
    call_command("create_demo_users", stdout=StringIO())  # idempotent
    worker = User.objects.get(username="grid_worker")
    post = StaffMember.objects.get(user=worker)
    grid = GridUnit.objects.get(pk=post.unit_id)
    assert grid.code == "620200002003001"
    case = Incident.objects.create(
        category="noise", location=grid.geom.point_on_surface, description="demo"
    )
    assert "verify" in workflow.allowed_actions(case, worker)


@pytest.mark.django_db
def test_the_demo_has_a_visit_history_with_some_households_overdue_written_once():
    from layers import visits
    from layers.models import Visit

    call_command("load_demo", network=[limin.NETWORK_CODE], stdout=StringIO())
    written = Visit.objects.count()
    assert written > limin.TOTALS["households"]  # red households are visited daily
    call_command("load_demo", network=[limin.NETWORK_CODE], stdout=StringIO())
    assert Visit.objects.count() == written
    grid = GridUnit.objects.get(code="620200002003001")
    statuses = {row.status for row in visits.due([grid.pk])}
    assert "overdue" in statuses and statuses & {"due", "due_today", "fine"}
    call_command("load_demo", network=[limin.NETWORK_CODE], replace=True, stdout=StringIO())
    assert Visit.objects.count() == written  # reloaded households, their history written anew
