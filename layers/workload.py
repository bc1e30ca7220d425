"""Workload and staffing (工作量与人员配备): what each grid of a node or segment carries —
households, residents, the visits its five colours owe a month, open incidents — against its
target; the staff each node has against the community staff standard; and a proposal to
rebalance a node's grids by handing boundary buildings to under-loaded neighbours, checked with
the editor's transfer. docs/workload.md has it in prose.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Count
from django.db.models.functions import Left
from django.utils import timezone
from pyproj import Transformer
from shapely.geometry import MultiPoint, Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from gridmap import editing
from gridmap.codes import CODE_LENGTH
from gridmap.geometry import area_m2, polygonal, to_geojson, to_shapely
from gridmap.models import GridUnit, StaffMember
from gridmap.staffing import (
    WORKLOAD_TOLERANCE,
    required_community_staff,
    workload_band,
    workload_flag,
)
from layers import visits
from layers.models import Building, Household, Incident
from layers.services.load import unit_load

Level = GridUnit.Level
Role = StaffMember.Role
COLORS = tuple(Household.Color.values)

# A grid within this share of its target is balanced: the one rule of gridmap.staffing.
TOLERANCE = WORKLOAD_TOLERANCE

# The posts the community staff standard (seed 000) counts: the community's own staff. Part-time
# grid members (兼职网格员: party members, volunteers, building leaders) are listed, not counted.
STANDARD_ROLES = (
    Role.COMMUNITY_LEAD,
    Role.GRID_LEADER,
    Role.GRID_INSTRUCTOR,
    Role.FULL_TIME_WORKER,
)

# The rebalance proposal: the area handed over is the moved buildings' footprints and their
# "shadow" on the shared edge, widened by this many metres; at most this many moves, and this
# many transfers tried (each a preview of the editor) before giving up.
AREA_MARGIN_M = 2.0
MAX_MOVES = 30
MAX_TRIES = 60
# Buildings tried per pair of grids in one step, nearest the shared edge first.
TRIES_PER_PAIR = 4


flag = workload_flag
band = workload_band


def _unit_body(unit: GridUnit) -> dict[str, Any]:
    return {"id": unit.id, "code": unit.code, "name": unit.name, "level": unit.level}


# --- per grid -----------------------------------------------------------------------------------


def grid_workload(
    unit: GridUnit, on_date: dt.date | None = None, tolerance: float = TOLERANCE
) -> dict[str, Any]:
    """Each grid of `unit` (a node or segment), lowest code first: households, residents and
    households by colour; the visits the colours owe in the month of `on_date` (default today),
    in all and by colour, and the households overdue for one; open incidents; the target, the
    load ratio and the flag at ±`tolerance`. Plus the totals.

    Set-based: the household counts and targets come from layers.services.load, the visits from
    layers.visits.workload, the incidents from one grouped count.
    """
    if unit.level not in (Level.NODE, Level.SEGMENT):
        raise ValueError(f"grid workload is per node or segment, not per {unit.level}")
    day = on_date or timezone.localdate()
    loads = unit_load(Level.GRID, parent=unit)
    ids = [row["id"] for row in loads]
    work = visits.workload(ids, day)
    incidents = dict(
        Incident.objects.open()
        .filter(grid_id__in=ids)
        .values("grid_id")
        .annotate(n=Count("id"))
        .values_list("grid_id", "n")
    )
    nodes = dict(
        GridUnit.objects.filter(level=Level.NODE, code__startswith=unit.code).values_list(
            "code", "id"
        )
    )
    grids = []
    for row in loads:
        counts = work["grids"][row["id"]]
        households, target = row["households"], row["target"]
        grids.append(
            {
                "id": row["id"],
                "code": row["code"],
                "name": row["name"],
                "node": nodes.get(row["code"][: CODE_LENGTH[Level.NODE]]),
                "households": households,
                "residents": row["residents"],
                "households_by_color": {c: counts["by_color"][c]["households"] for c in COLORS},
                "target": target,
                "band": [round(v, 1) for v in band(target, tolerance)],
                "ratio": round(households / target, 3) if target else None,
                "flag": flag(households, target, tolerance),
                "visits_owed_per_month": counts["visits_owed_per_month"],
                "visits_by_color": {
                    c: counts["by_color"][c]["visits_owed_per_month"] for c in COLORS
                },
                "overdue_visits": counts["overdue"],
                "open_incidents": incidents.get(row["id"], 0),
            }
        )
    flags = [g["flag"] for g in grids]
    total_work = work["total"]
    return {
        "unit": _unit_body(unit),
        "date": day,
        "days_in_month": work["days_in_month"],
        "tolerance": tolerance,
        "grids": grids,
        "total": {
            "grids": len(grids),
            "households": sum(g["households"] for g in grids),
            "residents": sum(g["residents"] for g in grids),
            "target": sum(g["target"] for g in grids),
            "over": flags.count("over"),
            "under": flags.count("under"),
            "ok": flags.count("ok"),
            "households_by_color": {c: total_work["by_color"][c]["households"] for c in COLORS},
            "visits_owed_per_month": total_work["visits_owed_per_month"],
            "visits_by_color": {
                c: total_work["by_color"][c]["visits_owed_per_month"] for c in COLORS
            },
            "overdue_visits": total_work["overdue"],
            "open_incidents": sum(g["open_incidents"] for g in grids),
        },
    }


# --- per node -----------------------------------------------------------------------------------


def node_staffing(unit: GridUnit, tolerance: float = TOLERANCE) -> list[dict[str, Any]]:
    """Each node (网节, community) of `unit` (a network or segment; a node gives itself), lowest
    code first: households and residents; the staff the community standard requires for them
    (seed 000) against the posts held in the node and its grids (STANDARD_ROLES; every role
    listed); the full-time grid workers one per target households would take (seed 002) against
    those posted; and how many grids are over and under their target at ±`tolerance`.

    Three set-based queries: nodes and grids through layers.services.load, posts grouped by
    node and role.
    """
    if unit.level == Level.GRID:
        raise ValueError("staffing is per node, segment or network, not per grid")
    node_length = CODE_LENGTH[Level.NODE]
    nodes = unit_load(Level.NODE, parent=unit)
    over: dict[str, int] = defaultdict(int)
    under: dict[str, int] = defaultdict(int)
    for grid in unit_load(Level.GRID, parent=unit):
        mark = flag(grid["households"], grid["target"], tolerance)
        if mark == "over":
            over[grid["code"][:node_length]] += 1
        elif mark == "under":
            under[grid["code"][:node_length]] += 1
    posts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(Role.values, 0))
    rows = (
        StaffMember.objects.filter(unit__code__startswith=unit.code)
        .annotate(node_code=Left("unit__code", node_length))
        .values("node_code", "role")
        .annotate(n=Count("id"))
    )
    for row in rows:
        # Posts above the node level (a street's own staff) belong to no community.
        if len(row["node_code"]) == node_length:
            posts[row["node_code"]][row["role"]] += row["n"]
    answer = []
    for node in nodes:
        by_role = posts[node["code"]]
        households, grids = node["households"], node["grids"]
        required = required_community_staff(households)
        assigned = sum(by_role[role] for role in STANDARD_ROLES)
        per_worker = node["target"] / grids if grids else None
        answer.append(
            {
                "id": node["id"],
                "code": node["code"],
                "name": node["name"],
                "households": households,
                "residents": node["residents"],
                "grids": grids,
                "target": node["target"],
                "ratio": node["ratio"],
                "flag": flag(households, node["target"], tolerance) if grids else None,
                "grids_over": over[node["code"]],
                "grids_under": under[node["code"]],
                "required_staff": required,
                "assigned_staff": assigned,
                "staff_gap": assigned - required,
                "staff_by_role": by_role,
                "grid_workers_needed": math.ceil(households / per_worker) if per_worker else 0,
                "grid_workers": by_role[Role.FULL_TIME_WORKER],
            }
        )
    return answer


# --- rebalancing ------------------------------------------------------------------------------


class RebalanceError(ValueError):
    """The unit cannot be rebalanced (not a node)."""


@dataclass
class _Grid:
    id: int
    code: str
    name: str
    version: int
    geom: BaseGeometry
    households: int
    target: int

    def deviation(self, households: int | None = None) -> float:
        return abs((self.households if households is None else households) - self.target)

    def body(self) -> dict[str, Any]:
        return {"id": self.id, "code": self.code, "name": self.name}


@dataclass
class _Building:
    id: int
    label: str
    footprint: BaseGeometry
    anchor: BaseGeometry
    households: int  # those that follow the building into the grid it is in
    distance_m: float  # to the edge shared with the receiving grid


def _grids(node: GridUnit) -> dict[int, _Grid]:
    loads = {row["id"]: row for row in unit_load(Level.GRID, parent=node)}
    units = GridUnit.objects.filter(parent=node, level=Level.GRID).order_by("code")
    return {
        u.id: _Grid(
            u.id,
            u.code,
            u.name,
            u.version,
            to_shapely(u.geom),
            loads[u.id]["households"],
            loads[u.id]["target"],
        )
        for u in units
    }


def _shared_edge(a: BaseGeometry, b: BaseGeometry) -> BaseGeometry | None:
    """The part of `a`'s boundary that runs along `b`, as the editor measures it; None when they
    do not share an edge (touching at a point is not sharing)."""
    if not a.envelope.intersects(b.envelope.buffer(editing.TOUCH_DEGREES)):
        return None
    edge = a.boundary.intersection(b.buffer(editing.TOUCH_DEGREES))
    return edge if edge.length > editing.MIN_SHARED_DEGREES else None


def neighbours(node: GridUnit) -> list[tuple[int, int]]:
    """Pairs of grid ids of `node` (lower id first) that share an edge."""
    grids = list(_grids(node).values())
    return [
        (a.id, b.id)
        for i, a in enumerate(grids)
        for b in grids[i + 1 :]
        if _shared_edge(a.geom, b.geom) is not None
    ]


# Raw SQL: the households that follow each building, and its geodesic distance to an edge, in
# one statement over the grid's buildings (the ORM would need a subquery and a geography cast).
_BUILDINGS_SQL = f"""
    SELECT b.id, b.name, b.road, b.number, ST_AsBinary(b.footprint), ST_AsBinary(b.anchor),
           (SELECT count(*) FROM {Household._meta.db_table} h
             WHERE h.building_id = b.id AND h.grid_id = b.grid_id),
           ST_Distance(b.footprint::geography, ST_GeomFromWKB(%(edge)s, 4326)::geography)
      FROM {Building._meta.db_table} b
     WHERE b.grid_id = %(grid)s
     ORDER BY 8, b.id
"""


def _buildings(grid: _Grid, edge: BaseGeometry) -> list[_Building]:
    """The buildings of `grid`, nearest the edge first."""
    with connection.cursor() as cursor:
        cursor.execute(_BUILDINGS_SQL, {"grid": grid.id, "edge": shapely.to_wkb(edge)})
        rows = cursor.fetchall()
    return [
        _Building(
            id=bid,
            label=name or f"{road}{number}" or f"#{bid}",
            footprint=shapely.from_wkb(bytes(footprint)),
            anchor=shapely.from_wkb(bytes(anchor)),
            households=households,
            distance_m=distance,
        )
        for bid, name, road, number, footprint, anchor, households, distance in rows
    ]


@lru_cache(maxsize=64)
def _metric(lon: float, lat: float) -> tuple[Callable, Callable]:
    """To and from metres on a plane centred at (lon, lat) (azimuthal equidistant): buffers of a
    few metres are drawn there, never in degrees."""
    local = f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs"
    forward = Transformer.from_crs("EPSG:4326", local, always_xy=True)
    inverse = Transformer.from_crs(local, "EPSG:4326", always_xy=True)

    def using(transformer: Transformer) -> Callable:
        def convert(geom: BaseGeometry) -> BaseGeometry:
            return shapely.transform(
                geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
            )

        return convert

    return using(forward), using(inverse)


def _transfer_area(
    source: _Grid, receiver: _Grid, edge: BaseGeometry, first: _Building, others: list[_Building]
) -> tuple[BaseGeometry, list[_Building]] | None:
    """The area to hand from `source` to `receiver` to move building `first`, and the buildings
    it moves (`first` and any other whose anchor falls in it); None when no such area borders
    the receiver.

    The area is the building's footprint and its shadow on the shared edge (the hull of its
    corners and their nearest points on the edge), with the footprints of the buildings it
    takes along, widened by AREA_MARGIN_M and clipped to the source grid. Buildings that stay
    are cut out of it where that keeps it whole, so the new boundary runs around them.
    """
    centre = source.geom.representative_point()
    to_m, to_deg = _metric(round(centre.x, 3), round(centre.y, 3))
    edge_m = to_m(edge)
    corners = [Point(xy) for xy in shapely.get_coordinates(to_m(first.footprint))]
    shadow = [nearest_points(edge_m, corner)[0] for corner in corners]
    corridor = MultiPoint(corners + shadow).convex_hull

    moved = [first]
    area = None
    for _ in range(3):  # taking a building along can reach the anchor of another
        footprints = shapely.union_all([to_m(b.footprint) for b in moved])
        widened = shapely.union(corridor, footprints).buffer(AREA_MARGIN_M, join_style="mitre")
        area = polygonal(
            shapely.intersection(to_deg(widened), source.geom, grid_size=editing.GRID_DEGREES),
            editing.SLIVER_M2,
        )
        inside = [b for b in others if b not in moved and area.covers(b.anchor)]
        if not inside:
            break
        moved += inside

    def borders_receiver(geom: BaseGeometry) -> bool:
        return (
            not geom.is_empty
            and geom.boundary.intersection(receiver.geom.buffer(editing.TOUCH_DEGREES)).length
            > editing.MIN_SHARED_DEGREES
        )

    def holding_moved(geom: BaseGeometry) -> BaseGeometry:
        parts = [p for p in geom.geoms if any(p.intersects(b.anchor) for b in moved)]
        return polygonal(shapely.union_all(parts), editing.SLIVER_M2)

    staying = [b.footprint for b in others if b not in moved and b.footprint.intersects(area)]
    if staying:
        trimmed = holding_moved(
            polygonal(
                shapely.difference(
                    area, shapely.union_all(staying), grid_size=editing.GRID_DEGREES
                ),
                editing.SLIVER_M2,
            )
        )
        if borders_receiver(trimmed):
            return trimmed, moved
    area = holding_moved(area)
    return (area, moved) if borders_receiver(area) else None


def _pairs(grids: dict[int, _Grid], tolerance: float) -> list[tuple[_Grid, _Grid, BaseGeometry]]:
    """(over-target grid, neighbour below target, their shared edge) where either is out of
    balance: the most loaded giver first, then its least loaded neighbour."""
    givers = sorted(
        (g for g in grids.values() if g.households > g.target),
        key=lambda g: (-g.households / g.target, g.code),
    )
    pairs = []
    for giver in givers:
        takers = sorted(
            (g for g in grids.values() if g.households < g.target),
            key=lambda g: (g.households / g.target, g.code),
        )
        for taker in takers:
            if flag(giver.households, giver.target, tolerance) == flag(
                taker.households, taker.target, tolerance
            ):
                continue  # both "ok": moving between them fixes nothing
            edge = _shared_edge(giver.geom, taker.geom)
            if edge is not None:
                pairs.append((giver, taker, edge))
    return pairs


def _helps(giver: _Grid, taker: _Grid, households: int) -> bool:
    """Whether moving `households` brings both grids closer to their targets."""
    return households > 0 and (
        giver.deviation(giver.households - households) < giver.deviation()
        and taker.deviation(taker.households + households) < taker.deviation()
    )


def _parts(geojson: dict | None) -> int:
    return len(shapely.get_parts(shape(geojson))) if geojson else 0


class _Refused(Exception):
    def __init__(self, code: str, detail: str, where: Any = None):
        super().__init__(detail)
        self.code, self.detail, self.where = code, detail, where


def _check_preview(result: editing.EditResult, giver: _Grid, taker: _Grid, expected: int) -> int:
    """The households the previewed transfer moves; _Refused unless it helps both grids and
    leaves the giver in as many pieces as it was."""
    load = {row["id"]: row for row in result.load}
    moved = load[giver.id]["households_before"] - load[giver.id]["households_after"]
    if not _helps(giver, taker, moved):
        raise _Refused(
            "does_not_help",
            f"此划转实际移动 {moved} 户（预计 {expected} 户），不能使两个网格都更接近目标 / the "
            f"transfer moves {moved} households (expected {expected}), which does not bring "
            "both grids closer to their targets",
        )
    after = next(u for u in result.units if u["id"] == giver.id)
    if _parts(after["geometry"]) > len(shapely.get_parts(giver.geom)):
        raise _Refused(
            "would_split",
            f"此划转会把 {giver.code} 分成不相连的几块 / the transfer would cut {giver.code} "
            "into pieces",
            {"unit": giver.code},
        )
    return moved


def _flag_row(grid: _Grid, before: int, tolerance: float) -> dict[str, Any]:
    return {
        **grid.body(),
        "target": grid.target,
        "band": [round(v, 1) for v in band(grid.target, tolerance)],
        "households_before": before,
        "households_after": grid.households,
        "flag_before": flag(before, grid.target, tolerance),
        "flag_after": flag(grid.households, grid.target, tolerance),
    }


def _arrow(footprints: BaseGeometry, edge: BaseGeometry, taker: BaseGeometry) -> list[list[float]]:
    """From the moved buildings across the shared edge into the receiving grid (lon, lat)."""
    start = footprints.centroid
    crossing = nearest_points(edge, start)[0]
    end = Point(2 * crossing.x - start.x, 2 * crossing.y - start.y)
    if not taker.covers(end):
        end = taker.representative_point()
    return [[round(start.x, 7), round(start.y, 7)], [round(end.x, 7), round(end.y, 7)]]


_REASONS = {
    "balanced": "各网格户数均在目标 ±{pct}% 以内 / every grid is within ±{pct}% of its target",
    "no_neighbour": "超出目标的网格没有低于目标的相邻网格，无法通过划转楼栋调整 / no grid out of "
    "balance borders a grid on the other side of its target, so no building can be handed over",
    "no_move_helps": "没有能使相邻两个网格都更接近目标的楼栋划转 / no building can be handed to a "
    "neighbour so that both grids come closer to their targets",
    "limit": "已达到调整次数上限，建议应用后重新计算 / the proposal reached its limit of moves; "
    "apply it and ask again",
}


def rebalance(
    node: GridUnit,
    tolerance: float = TOLERANCE,
    *,
    user: AbstractBaseUser | None = None,
) -> dict[str, Any]:
    """A proposal to bring the grids of `node` within ±`tolerance` of their targets by handing
    boundary buildings from grids over their target to neighbouring grids below theirs.

    Greedy: the most loaded grid gives the building nearest the edge it shares with its least
    loaded neighbour, if that brings both closer to their targets; again until every grid is
    balanced or no move helps. Each move is previewed with gridmap.editing.transfer, so a move
    that would break the topology (or split the giving grid) is skipped and reported, and then
    made inside a transaction that is rolled back at the end, so the next move starts from the
    boundaries the previous one leaves. Nothing is written.

    Returns the moves in order, each with the buildings and households it moves, the area to
    transfer and the versions to send with it (POST /api/units/{to}/transfer/ or apply());
    the moves refused; each grid's households before and after; and why the proposal ends.
    """
    if node.level != Level.NODE:
        raise RebalanceError(f"rebalancing is per node, not per {node.level}")
    moves: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    tried: set[tuple[int, int, int]] = set()
    tries = 0
    with transaction.atomic():
        grids = _grids(node)
        before = {g.id: g.households for g in grids.values()}
        while True:
            if all(flag(g.households, g.target, tolerance) == "ok" for g in grids.values()):
                reason = "balanced"
                break
            pairs = _pairs(grids, tolerance)
            if not pairs:
                reason = "no_neighbour"
                break
            if len(moves) >= MAX_MOVES or tries >= MAX_TRIES:
                reason = "limit"
                break
            move = None
            for giver, taker, edge in pairs:
                buildings = _buildings(giver, edge)
                candidates = [
                    b
                    for b in buildings
                    if (b.id, giver.id, taker.id) not in tried
                    and _helps(giver, taker, b.households)
                ][:TRIES_PER_PAIR]
                for building in candidates:
                    if tries >= MAX_TRIES:
                        break
                    tries += 1
                    tried.add((building.id, giver.id, taker.id))
                    move = _try_move(giver, taker, edge, building, buildings, refused, user)
                    if move is not None:
                        break
                if move is not None:
                    break
            if move is None:
                reason = "limit" if tries >= MAX_TRIES else "no_move_helps"
                break
            move["step"] = len(moves) + 1
            moves.append(move)
            grids = _grids(node)
        after = list(grids.values())
        transaction.set_rollback(True)
    pct = round(tolerance * 100)
    return {
        "node": _unit_body(node),
        "tolerance": tolerance,
        "balanced": reason == "balanced",
        "reason": reason,
        "detail": _REASONS[reason].format(pct=pct),
        "moves": moves,
        "refused": refused,
        "grids": [_flag_row(g, before[g.id], tolerance) for g in after],
    }


def _try_move(
    giver: _Grid,
    taker: _Grid,
    edge: BaseGeometry,
    building: _Building,
    buildings: list[_Building],
    refused: list[dict[str, Any]],
    user: AbstractBaseUser | None,
) -> dict[str, Any] | None:
    """Preview handing `building` from `giver` to `taker`; if it helps, make it (inside the
    caller's transaction) and describe it; if not, note why in `refused`."""
    others = [b for b in buildings if b.id != building.id]
    found = _transfer_area(giver, taker, edge, building, others)
    moved = found[1] if found else [building]
    expected = sum(b.households for b in moved)

    def refuse(code: str, detail: str, where: Any = None) -> None:
        refused.append(
            {
                "from": giver.body(),
                "to": taker.body(),
                "buildings": [{"id": b.id, "name": b.label} for b in moved],
                "households": expected,
                "error": code,
                "detail": detail,
                "where": where,
            }
        )

    if found is None:
        refuse(
            "not_adjacent",
            f"楼栋与 {taker.code} 之间隔着其他网格，无法划转 / the building cannot be handed to "
            f"{taker.code}: another grid lies between them",
        )
        return None
    area = found[0]
    versions = {giver.id: giver.version}
    try:
        preview = editing.transfer(taker.id, taker.version, area, preview=True, versions=versions)
        households = _check_preview(preview, giver, taker, expected)
    except editing.EditError as exc:
        refuse(exc.code, exc.detail, exc.where)
        return None
    except _Refused as exc:
        refuse(exc.code, exc.detail, exc.where)
        return None
    note = f"再平衡建议：{giver.code} → {taker.code}"
    editing.transfer(taker.id, taker.version, area, versions=versions, user=user, note=note)
    ids = [b.id for b in buildings]
    really = set(Building.objects.filter(pk__in=ids, grid_id=taker.id).values_list("id", flat=True))
    moved = [b for b in buildings if b.id in really] or moved
    footprints = shapely.union_all([b.footprint for b in moved])
    return {
        "from": {**giver.body(), "households_before": giver.households},
        "to": {**taker.body(), "households_before": taker.households},
        "buildings": [{"id": b.id, "name": b.label, "households": b.households} for b in moved],
        "households": households,
        "area_m2": round(area_m2(area), 1),
        "area": to_geojson(area),
        "footprints": to_geojson(polygonal(footprints)),
        "arrow": _arrow(footprints, edge, taker.geom),
        "transfer": {
            "unit": taker.id,
            "version": taker.version,
            "versions": {str(k): v for k, v in versions.items()},
        },
    }


@dataclass(frozen=True)
class Transfer:
    """One move of a proposal as the editor takes it: hand `area` to grid `unit`, which is at
    `version`, with the other grids at `versions` ({id: version})."""

    unit: int
    version: int
    versions: dict[int, int]
    area: BaseGeometry


def apply(
    transfers: list[Transfer], *, user: AbstractBaseUser | None = None, note: str = ""
) -> list[editing.EditResult]:
    """Make the moves of a proposal, in order, in one transaction, each through the editor's
    transfer. Raises editing.EditError (409 when a grid changed since the proposal) and then
    nothing is made."""
    results = []
    with transaction.atomic():
        for move in transfers:
            results.append(
                editing.transfer(
                    move.unit,
                    move.version,
                    move.area,
                    versions=move.versions,
                    user=user,
                    note=note or "再平衡建议 / rebalance proposal",
                )
            )
    return results
