"""Topology checks of the four-level grid: at every level the children tile their parent — no
gap, no overlap, nothing outside — measured in square metres on the ellipsoid, each problem
located; and inside every node (网节) the grids are numbered in reading order."""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import connection

from gridmap import codes

# Slivers below this many square metres are floating-point noise, not planning errors.
DEFAULT_TOLERANCE_M2 = 1.0

LonLat = tuple[float, float]  # WGS84


class UnknownUnit(LookupError):
    """No unit's code starts with the prefix the check was asked for; the message is bilingual."""


@dataclass
class Gap:
    """Part of a parent that none of its children covers (缝隙)."""

    parent: str
    area_m2: float
    point: LonLat  # inside the gap


@dataclass
class Overlap:
    """Two siblings that share area (重叠); `a` has the lower code."""

    a: str
    b: str
    parent: str
    area_m2: float
    point: LonLat  # inside the shared area


@dataclass
class Outside:
    """Part of a child that lies outside its parent (超出上级)."""

    child: str
    parent: str
    area_m2: float
    point: LonLat  # inside the part outside


@dataclass
class BadCode:
    """A code of the wrong length for its level, or not starting with its parent's code."""

    code: str
    parent: str | None
    reason: str  # "wrong_length" or "not_under_parent"


@dataclass
class OutOfOrder:
    """A grid whose place among its siblings by code is not its place in reading order.

    Positions are 1-based ranks among the node's grids, so a deleted grid (a hole in the
    numbering) is not an order fault.
    """

    code: str
    node: str
    expected: int  # position in reading order, west→east, north→south
    actual: int  # position by code


@dataclass
class TilingReport:
    """How the children of one unit cover it, in totals."""

    code: str
    name: str
    level: str
    children: int
    gap_m2: float
    overlap_m2: float
    outside_m2: float
    gaps: list[Gap] = field(default_factory=list)

    def ok(self, tolerance_m2: float = DEFAULT_TOLERANCE_M2) -> bool:
        return (
            self.children > 0
            and self.gap_m2 <= tolerance_m2
            and self.overlap_m2 <= tolerance_m2
            and self.outside_m2 <= tolerance_m2
        )


@dataclass
class TopologyReport:
    """Everything the check found below `unit` ("" = the whole grid).

    Gaps, overlaps, parts outside and bad codes are errors; codes out of reading order are
    warnings, because codes are stable and renumbering is the planner's decision. The tolerance
    applies to each located piece.
    """

    unit: str
    tolerance_m2: float
    tilings: list[TilingReport]
    gaps: list[Gap]
    overlaps: list[Overlap]
    outside: list[Outside]
    bad_codes: list[BadCode]
    order: list[OutOfOrder]

    @property
    def errors(self) -> int:
        return len(self.gaps) + len(self.overlaps) + len(self.outside) + len(self.bad_codes)

    @property
    def warnings(self) -> int:
        return len(self.order)

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def as_dict(self) -> dict[str, Any]:
        def located(item) -> dict[str, Any]:
            row = asdict(item)
            row["area_m2"] = round(item.area_m2, 2)
            row["point"] = [round(item.point[0], 7), round(item.point[1], 7)]
            return row

        return {
            "unit": self.unit,
            "tolerance_m2": self.tolerance_m2,
            "ok": self.ok,
            "errors": self.errors,
            "warnings": self.warnings,
            "tilings": [
                {
                    "code": t.code,
                    "name": t.name,
                    "level": t.level,
                    "children": t.children,
                    "gap_m2": round(t.gap_m2, 2),
                    "overlap_m2": round(t.overlap_m2, 2),
                    "outside_m2": round(t.outside_m2, 2),
                    "ok": t.ok(self.tolerance_m2),
                }
                for t in self.tilings
            ],
            "gaps": [located(g) for g in self.gaps],
            "overlaps": [located(o) for o in self.overlaps],
            "outside": [located(o) for o in self.outside],
            "bad_codes": [asdict(b) for b in self.bad_codes],
            "order": [asdict(o) for o in self.order],
        }


# Per parent: the union of its children, what of the parent it leaves uncovered (one row per
# gap above the tolerance), how much the children overlap and reach outside, in total.
_TILING_SQL = """
    WITH kids AS (
        SELECT p.id,
               count(c.id) AS n,
               ST_Union(c.geom) AS u,
               COALESCE(sum(ST_Area(c.geom::geography)), 0) AS sum_area
          FROM gridmap_gridunit p
          LEFT JOIN gridmap_gridunit c ON c.parent_id = p.id
         WHERE p.level <> 'grid' AND p.code LIKE %(prefix)s
         GROUP BY p.id
    ), diff AS (
        SELECT p.id, p.code, p.name, p.level, k.n, k.u, k.sum_area,
               CASE WHEN k.u IS NULL THEN p.geom ELSE ST_Difference(p.geom, k.u) END AS gap,
               CASE WHEN k.u IS NULL THEN NULL ELSE ST_Difference(k.u, p.geom) END AS outside
          FROM gridmap_gridunit p JOIN kids k ON k.id = p.id
    )
    SELECT code, name, level, n,
           COALESCE(ST_Area(gap::geography), 0),
           CASE WHEN u IS NULL THEN 0 ELSE greatest(sum_area - ST_Area(u::geography), 0) END,
           COALESCE(ST_Area(outside::geography), 0),
           (SELECT json_agg(json_build_array(ST_Area(d.geom::geography),
                                             ST_X(ST_PointOnSurface(d.geom)),
                                             ST_Y(ST_PointOnSurface(d.geom)))
                            ORDER BY ST_Area(d.geom::geography) DESC)
              FROM ST_Dump(gap) d
             WHERE ST_Area(d.geom::geography) > %(tolerance)s)
      FROM diff
     ORDER BY code
"""

# Sibling pairs whose interiors meet (DE-9IM interior/interior is 2-dimensional); touching
# along an edge is not an overlap. `&&` lets the planner use the index; ST_Relate cannot.
_OVERLAP_SQL = """
    SELECT a.code, b.code, p.code, ST_Area(x.o::geography), ST_X(x.pt), ST_Y(x.pt)
      FROM gridmap_gridunit p
      JOIN gridmap_gridunit a ON a.parent_id = p.id
      JOIN gridmap_gridunit b ON b.parent_id = p.id AND a.code < b.code
     CROSS JOIN LATERAL (
           SELECT o, ST_PointOnSurface(o) AS pt
             FROM ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 3) AS o
           ) x
     WHERE p.code LIKE %(prefix)s
       AND a.geom && b.geom
       AND ST_Relate(a.geom, b.geom, '2********')
       AND ST_Area(x.o::geography) > %(tolerance)s
     ORDER BY a.code, b.code
"""

_OUTSIDE_SQL = """
    SELECT c.code, p.code, ST_Area(x.d::geography), ST_X(x.pt), ST_Y(x.pt)
      FROM gridmap_gridunit p
      JOIN gridmap_gridunit c ON c.parent_id = p.id
     CROSS JOIN LATERAL (
           SELECT d, ST_PointOnSurface(d) AS pt
             FROM ST_CollectionExtract(ST_Difference(c.geom, p.geom), 3) AS d
           ) x
     WHERE p.code LIKE %(prefix)s
       AND NOT ST_CoveredBy(c.geom, p.geom)
       AND ST_Area(x.d::geography) > %(tolerance)s
     ORDER BY c.code
"""

# The database's trigger refuses such codes; data written around it (a restore, a bulk copy
# with triggers off) is still worth a look, and the check costs one scan.
_BAD_CODE_SQL = """
    SELECT c.code, p.code,
           CASE WHEN length(c.code) <> (%(lengths)s::jsonb ->> c.level)::int
                THEN 'wrong_length' ELSE 'not_under_parent' END
      FROM gridmap_gridunit c
      LEFT JOIN gridmap_gridunit p ON p.id = c.parent_id
     WHERE (c.code LIKE %(prefix)s OR p.code LIKE %(prefix)s)
       AND (length(c.code) <> (%(lengths)s::jsonb ->> c.level)::int
            OR left(c.code, length(p.code)) <> p.code)
     ORDER BY c.code
"""

_GRID_SQL = """
    SELECT n.code, g.code, ST_X(ST_Centroid(g.geom)), ST_Y(ST_Centroid(g.geom)),
           ST_Area(g.geom::geography)
      FROM gridmap_gridunit n
      JOIN gridmap_gridunit g ON g.parent_id = n.id
     WHERE n.level = 'node' AND g.level = 'grid' AND n.code LIKE %(prefix)s
     ORDER BY n.code, g.code
"""

_DIGITS = re.compile(r"[0-9]*")


def check(code_prefix: str = "", tolerance_m2: float = DEFAULT_TOLERANCE_M2) -> TopologyReport:
    """Check the unit(s) whose code starts with `code_prefix` and everything below them.

    Raises codes.CodeError for a prefix that is not digits, ValueError for a tolerance that is
    not a finite non-negative number, UnknownUnit when no unit's code starts with the prefix.
    """
    if not _DIGITS.fullmatch(code_prefix):
        raise codes.CodeError(
            f"编码前缀 '{code_prefix}' 只能由数字组成 / code prefix '{code_prefix}' must consist "
            "of digits only"
        )
    if not (math.isfinite(tolerance_m2) and tolerance_m2 >= 0):
        raise ValueError(
            f"容差应为非负数（平方米），收到 {tolerance_m2} / tolerance must be a non-negative "
            f"number of m², got {tolerance_m2}"
        )
    params = {
        "prefix": f"{code_prefix}%",
        "tolerance": tolerance_m2,
        "lengths": json.dumps(codes.CODE_LENGTH),
    }
    with connection.cursor() as cursor:
        if code_prefix:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM gridmap_gridunit WHERE code LIKE %(prefix)s)",
                params,
            )
            if not cursor.fetchone()[0]:
                raise UnknownUnit(
                    f"没有编码以 '{code_prefix}' 开头的单元 / no unit's code starts with "
                    f"'{code_prefix}'"
                )
        tilings = _tilings(cursor, params)
        cursor.execute(_OVERLAP_SQL, params)
        overlaps = [Overlap(a, b, p, area, (x, y)) for a, b, p, area, x, y in cursor.fetchall()]
        cursor.execute(_OUTSIDE_SQL, params)
        outside = [Outside(c, p, area, (x, y)) for c, p, area, x, y in cursor.fetchall()]
        cursor.execute(_BAD_CODE_SQL, params)
        bad_codes = [BadCode(*row) for row in cursor.fetchall()]
        cursor.execute(_GRID_SQL, params)
        order = _out_of_order(cursor.fetchall())
    return TopologyReport(
        unit=code_prefix,
        tolerance_m2=tolerance_m2,
        tilings=tilings,
        gaps=[gap for t in tilings for gap in t.gaps],
        overlaps=overlaps,
        outside=outside,
        bad_codes=bad_codes,
        order=order,
    )


def _tilings(cursor, params: dict[str, Any]) -> list[TilingReport]:
    cursor.execute(_TILING_SQL, params)
    return [
        TilingReport(
            code=code,
            name=name,
            level=level,
            children=n,
            gap_m2=gap,
            overlap_m2=overlap,
            outside_m2=outside,
            gaps=[Gap(code, area, (x, y)) for area, x, y in gaps or []],
        )
        for code, name, level, n, gap, overlap, outside, gaps in cursor.fetchall()
    ]


def _out_of_order(rows: list[tuple[str, str, float, float, float]]) -> list[OutOfOrder]:
    """Rows (node, grid, lon, lat, area m²) ordered by node and grid code → the misplaced grids.

    The row height of a node is the side of its median grid, √(median area): a row of grids of
    about that size lines up, whatever the size of the grids in that place (the demo grids range
    from under 100 m to over 1 km). layers.demo.synthcity numbers its grids by the same rule.
    """
    by_node: dict[str, list[tuple[str, float, float, float]]] = {}
    for node, grid, lon, lat, area in rows:
        by_node.setdefault(node, []).append((grid, lon, lat, area))
    misplaced = []
    for node, grids in by_node.items():
        # At least a metre: a degenerate (zero-area) grid must not divide by zero.
        row_height_m = max(math.sqrt(statistics.median(area for *_, area in grids)), 1.0)
        reading = codes.reading_order([(lon, lat) for _, lon, lat, _ in grids], row_height_m)
        for expected, index in enumerate(reading, start=1):
            actual = index + 1  # rows come ordered by code
            if expected != actual:
                misplaced.append(OutOfOrder(grids[index][0], node, expected, actual))
    misplaced.sort(key=lambda m: (m.node, m.actual))
    return misplaced


def tiling_reports(
    code_prefix: str = "", tolerance_m2: float = DEFAULT_TOLERANCE_M2
) -> list[TilingReport]:
    """One report per non-grid unit whose code starts with `code_prefix`."""
    with connection.cursor() as cursor:
        return _tilings(cursor, {"prefix": f"{code_prefix}%", "tolerance": tolerance_m2})


def problems(
    code_prefix: str = "", tolerance_m2: float = DEFAULT_TOLERANCE_M2
) -> list[TilingReport]:
    """The units whose children do not tile them."""
    return [r for r in tiling_reports(code_prefix, tolerance_m2) if not r.ok(tolerance_m2)]
