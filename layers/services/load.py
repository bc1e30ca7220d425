"""Household load (户数负荷) of grids, nodes or segments against their target, to colour a map."""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from gridmap.codes import CODE_LENGTH
from gridmap.models import GridUnit
from gridmap.staffing import workload_flag
from layers.models import Household
from layers.services.maplayers import ENVELOPE, BBox, box_params

LEVELS = ("grid", "node", "segment")

# Raw SQL, set-based in one statement: GridUnit.effective_target walks up the parents row by row,
# and the ORM has no join on a code prefix. A grid's target is its own target_households, else
# its node's, segment's or network's (0 counts as unset, as there), else the default; a node or
# segment has the sum of its grids' targets (the target per grid × the number of grids when they
# share one). Households are counted by their stored grid_id and rolled up to the unit whose
# code starts the grid's.
_LOAD_SQL = f"""
    WITH unit AS (
        SELECT u.id, u.code, u.name, u.level
          FROM {GridUnit._meta.db_table} u
         WHERE u.level = %(level)s AND {{scope}}
    ), grid AS (
        SELECT unit.id AS unit_id, g.id,
               COALESCE(NULLIF(g.target_households, 0), NULLIF(n.target_households, 0),
                        NULLIF(s.target_households, 0), NULLIF(w.target_households, 0),
                        %(default_target)s) AS target
          FROM unit
          JOIN {GridUnit._meta.db_table} g
            ON g.level = 'grid' AND left(g.code, %(code_length)s) = unit.code
          LEFT JOIN {GridUnit._meta.db_table} n ON n.id = g.parent_id
          LEFT JOIN {GridUnit._meta.db_table} s ON s.id = n.parent_id
          LEFT JOIN {GridUnit._meta.db_table} w ON w.id = s.parent_id
    ), counted AS (
        SELECT h.grid_id, count(*) AS households, sum(h.residents) AS residents
          FROM {Household._meta.db_table} h
         WHERE h.grid_id IN (SELECT id FROM grid)
         GROUP BY h.grid_id
    )
    SELECT unit.id, unit.code, unit.name, unit.level,
           COALESCE(sum(counted.households), 0)::int, COALESCE(sum(counted.residents), 0)::int,
           COALESCE(sum(grid.target), 0)::int, count(grid.id)::int
      FROM unit
      LEFT JOIN grid ON grid.unit_id = unit.id
      LEFT JOIN counted ON counted.grid_id = grid.id
     GROUP BY unit.id, unit.code, unit.name, unit.level
     ORDER BY unit.code
"""


def unit_load(level: str, parent: GridUnit | None = None, bbox: BBox | None = None) -> list[dict]:
    """Each unit of `level` below `parent` and/or intersecting `bbox`: households and residents
    in its grids, its target, their ratio and the workload flag, ordered by code.

    `parent` must be of a higher level than `level`.
    """
    scope, params = ["TRUE"], {}
    if parent is not None:
        scope.append("starts_with(u.code, %(parent_code)s)")
        params["parent_code"] = parent.code
    if bbox is not None:
        scope.append(f"ST_Intersects(u.geom, {ENVELOPE})")
        params.update(box_params(bbox))
    params.update(
        level=level,
        code_length=CODE_LENGTH[level],
        default_target=settings.GRIDMAP_TARGET_HOUSEHOLDS,
    )
    with connection.cursor() as cursor:
        cursor.execute(_LOAD_SQL.format(scope=" AND ".join(scope)), params)
        rows = cursor.fetchall()
    return [
        {
            "id": unit_id,
            "code": code,
            "name": name,
            "level": unit_level,
            "households": households,
            "residents": residents,
            "grids": grids,
            "target": target,
            # A unit without grids has no target to compare with.
            "ratio": round(households / target, 3) if grids else None,
            "flag": workload_flag(households, target) if grids else None,
        }
        for unit_id, code, name, unit_level, households, residents, target, grids in rows
    ]
