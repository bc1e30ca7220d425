"""Topology checks of the four-level grid: at every level the children tile their parent —
no gap, no overlap, nothing outside — measured in square metres on the ellipsoid."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection

# Slivers below this many square metres are floating-point noise, not planning errors.
DEFAULT_TOLERANCE_M2 = 1.0


@dataclass
class Gap:
    area_m2: float
    point: tuple[float, float]  # a point inside the gap, WGS84 lon/lat


@dataclass
class TilingReport:
    """How the children of one unit cover it."""

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


_SQL = """
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


def tiling_reports(
    code_prefix: str = "", tolerance_m2: float = DEFAULT_TOLERANCE_M2
) -> list[TilingReport]:
    """One report per non-grid unit whose code starts with `code_prefix`."""
    with connection.cursor() as cursor:
        cursor.execute(_SQL, {"prefix": f"{code_prefix}%", "tolerance": tolerance_m2})
        rows = cursor.fetchall()
    reports = []
    for code, name, level, n, gap, overlap, outside, gaps in rows:
        reports.append(
            TilingReport(
                code=code,
                name=name,
                level=level,
                children=n,
                gap_m2=gap,
                overlap_m2=overlap,
                outside_m2=outside,
                gaps=[Gap(area, (x, y)) for area, x, y in gaps or []],
            )
        )
    return reports


def problems(
    code_prefix: str = "", tolerance_m2: float = DEFAULT_TOLERANCE_M2
) -> list[TilingReport]:
    """The units whose children do not tile them."""
    return [r for r in tiling_reports(code_prefix, tolerance_m2) if not r.ok(tolerance_m2)]
