"""Locate: the full grid chain (网域 > 网段 > 网节 > 网格) and the grid's staff for a point."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.gis.geos import Point
from django.db.models.functions import Length

from gridmap.models import GridUnit, StaffMember, UnitVersion
from gridmap.sql import PreparedStatement

CHAIN = ("grid", "node", "segment", "network")

OUTSIDE = "该点不在任何网域内 / the point lies outside every network"

# One statement for the common case, a point in a grid: the grid (lowest code on a shared edge,
# the rule of gridmap.assignment), its three ancestors and its staff. Through the ORM this was
# two queries and model instances, 20× the bare lookup; as a prepared statement it stays close.
_GRID_CHAIN = PreparedStatement(
    "gridmap_locate",
    f"""
    SELECT g.id, g.code, g.name, n.id, n.code, n.name, s.id, s.code, s.name,
           w.id, w.code, w.name,
           (SELECT json_agg(json_build_object('role', st.role, 'name', st.name,
                                              'phone', st.phone)
                            ORDER BY st.role, st.name)
              FROM {StaffMember._meta.db_table} st WHERE st.unit_id = g.id)
      FROM (SELECT id FROM {GridUnit._meta.db_table}
             WHERE level = 'grid'
               AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
             ORDER BY code LIMIT 1) hit
      JOIN {GridUnit._meta.db_table} g ON g.id = hit.id
      LEFT JOIN {GridUnit._meta.db_table} n ON n.id = g.parent_id
      LEFT JOIN {GridUnit._meta.db_table} s ON s.id = n.parent_id
      LEFT JOIN {GridUnit._meta.db_table} w ON w.id = s.parent_id
""",
    {"lon": "float8", "lat": "float8"},
)

_ROLE_LABELS = dict(StaffMember.Role.choices)


def _grid_chain(point: Point) -> tuple | None:
    return _GRID_CHAIN.fetchone({"lon": point.x, "lat": point.y})


@dataclass
class Location:
    """The units covering a point as {id, code, name} by level; `reason` says why one is empty."""

    units: dict[str, dict | None] = field(default_factory=lambda: dict.fromkeys(CHAIN))
    staff: list[dict] = field(default_factory=list)
    reason: str | None = None


def _ref(unit_id, code, name) -> dict | None:
    return None if unit_id is None else {"id": unit_id, "code": code, "name": name}


def locate(point: Point) -> Location:
    """The grid covering `point` (lowest code on a shared edge), its ancestors and staff.

    A point in no grid but inside a node, segment or network (a coverage gap) gets the deepest
    unit that covers it, with a reason.
    """
    row = _grid_chain(point)
    if row is not None:
        units = {
            level: _ref(*row[3 * i : 3 * i + 3])
            for i, level in enumerate(("grid", "node", "segment", "network"))
        }
        staff = [
            {**member, "role_label": str(_ROLE_LABELS.get(member["role"], member["role"]))}
            for member in row[12] or []
        ]
        return Location(units=units, staff=staff)
    return _locate_in_a_gap(point)


def _locate_in_a_gap(point: Point) -> Location:
    deepest = (
        GridUnit.objects.exclude(level=GridUnit.Level.GRID)
        .covering(point)
        .select_related("parent__parent")
        .order_by(Length("code").desc(), "code")
        .first()
    )
    if deepest is None:
        return Location(reason=OUTSIDE)
    units: dict[str, dict | None] = dict.fromkeys(CHAIN)
    unit: GridUnit | None = deepest
    while unit is not None:
        units[unit.level] = _ref(unit.id, unit.code, unit.name)
        unit = unit.parent
    return Location(
        units=units,
        reason=(
            f"该点位于「{deepest.name}」内，但不在任何网格内（覆盖空隙） / the point lies in "
            f"{deepest.code} but in no grid (a coverage gap)"
        ),
    )


def locate_at(point: Point, at: datetime) -> Location:
    """The units that covered `point` at the instant `at`, from the history of every unit.

    The boundary rule is today's: on a shared edge the lowest code. Staff are not kept in the
    history, so the answer has none.
    """
    covering = (
        UnitVersion.objects.filter(geom__covers=point, valid_from__lte=at)
        .exclude(valid_to__lte=at)
        .order_by("code")
        .values_list("unit_id", "code", "name", "level")
    )
    units: dict[str, dict | None] = dict.fromkeys(CHAIN)
    for unit_id, code, name, level in covering:
        if units[level] is None:
            units[level] = _ref(unit_id, code, name)
    if units["network"] is None:
        return Location(
            units=units,
            reason=f"{at:%Y-%m-%d %H:%M} 时该点不在任何网域内 / at {at:%Y-%m-%d %H:%M} the point "
            "lay outside every network",
        )
    if units["grid"] is None:
        deepest = next(units[level] for level in CHAIN if units[level] is not None)
        return Location(
            units=units,
            reason=f"{at:%Y-%m-%d %H:%M} 时该点位于「{deepest['name']}」内，但不在任何网格内 / at "
            f"{at:%Y-%m-%d %H:%M} the point lay in {deepest['code']} but in no grid",
        )
    return Location(units=units)
