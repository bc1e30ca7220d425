"""One search box for the map: grid units by code or name, and buildings by address."""

from __future__ import annotations

from django.db import connection

from gridmap.codes import LEVELS
from gridmap.models import GridUnit
from layers.services.address import TEXT_KEY_SQL, normalize_text, search_buildings

# Raw SQL, to share the name key with layers.services.address. Exact code or name first, then
# codes or names that start with the query, then names that contain it; within a rank the upper
# levels first. A query that is not all digits passes code = NULL, which matches no code.
_UNITS_SQL = f"""
    SELECT id, code, name, level, rank,
           ARRAY[round(ST_XMin(box)::numeric, 7), round(ST_YMin(box)::numeric, 7),
                 round(ST_XMax(box)::numeric, 7), round(ST_YMax(box)::numeric, 7)]::float8[],
           ARRAY[round(ST_X(point)::numeric, 7), round(ST_Y(point)::numeric, 7)]::float8[]
      FROM (SELECT u.id, u.code, u.name, u.level, Box2D(u.geom) AS box,
                   ST_PointOnSurface(u.geom) AS point,
                   CASE WHEN u.code = %(code)s OR k.key = %(key)s THEN 0
                        WHEN starts_with(u.code, %(code)s) OR starts_with(k.key, %(key)s) THEN 1
                        ELSE 2 END AS rank
              FROM {GridUnit._meta.db_table} u,
                   LATERAL (SELECT {TEXT_KEY_SQL.format(text="u.name")} AS key) k
             WHERE starts_with(u.code, %(code)s) OR strpos(k.key, %(key)s) > 0
           ) hit
     ORDER BY rank, array_position(%(levels)s, level::text), code
     LIMIT %(limit)s
"""


def search_units(q: str, limit: int = 20) -> list[dict]:
    """Units whose code starts with `q` or whose name contains it, best first.

    Each: {"id", "label", "code", "level", "rank", "bbox", "point"}; the point is a point on the
    unit's surface.
    """
    key = normalize_text(q)
    if not key:
        return []
    params = {
        "key": key,
        "code": key if key.isascii() and key.isdigit() else None,
        "levels": list(LEVELS),
        "limit": limit,
    }
    with connection.cursor() as cursor:
        cursor.execute(_UNITS_SQL, params)
        rows = cursor.fetchall()
    return [
        {
            "id": unit_id,
            "label": name,
            "code": code,
            "level": level,
            "rank": rank,
            "bbox": bbox,
            "point": point,
        }
        for unit_id, code, name, level, rank, bbox, point in rows
    ]


def search(q: str, limit: int = 20, *, buildings: bool = True) -> list[dict]:
    """Units and (if `buildings`) buildings matching `q` in one list, best match first.

    Each item has "type" ("unit" or "building"), "id", "label", "bbox" [minlon, minlat, maxlon,
    maxlat] and "point" [lon, lat]; units also "code" and "level", buildings "address".
    """
    found = [{"type": "unit", **unit} for unit in search_units(q, limit)]
    if buildings:
        found += [{"type": "building", **building} for building in search_buildings(q, limit)]
    # Stable: within a rank, units before buildings, each in its own order.
    found.sort(key=lambda item: item["rank"])
    return [{k: v for k, v in item.items() if k != "rank"} for item in found[:limit]]
