"""Locate and route (调度): for a reported point, whose grid it is and whom to call up the chain,
which cameras see it, which priority households are near, and which open cases it may repeat."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.gis.geos import Point
from django.db import connection
from django.utils import timezone

from gridmap import audit
from gridmap.locate import CHAIN, locate
from gridmap.models import GridUnit, StaffMember
from gridmap.sql import PreparedStatement, degree_box
from layers.models import Building, Camera, Household, Incident
from layers.services.maplayers import ENVELOPE, BBox, box_params, collection

# Households that need attention first (五色管理: 红色 and 橙色).
PRIORITY_COLORS = (Household.Color.RED, Household.Color.ORANGE)

# A new report of this category this close to an open case this recent may be the same case.
DUPLICATE_RADIUS_M = 50
DUPLICATE_WINDOW = dt.timedelta(hours=24)

# Sector outlines get a point on the arc every this many degrees: at the longest demo range
# (120 m) the chord leaves the arc by at most 0.1 m.
SECTOR_STEP_DEG = 5

# A point placed exactly on a sector's edge (from a map click, or computed) lands a few ulps to
# either side of it; these keep it covered. 1e-7° is under a micrometre at a camera's range.
EDGE_TOLERANCE_M = 0.001
EDGE_TOLERANCE_DEG = 1e-7

_ROLE_LABELS = dict(StaffMember.Role.choices)

_CAMERAS = Camera._meta.db_table
_HOUSEHOLDS = Household._meta.db_table
_BUILDINGS = Building._meta.db_table
_INCIDENTS = Incident._meta.db_table
_UNITS = GridUnit._meta.db_table


_POINT_CTE = """
    p AS (SELECT geom, geom::geography AS geog, %(lat)s::float8 AS lat
            FROM ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) geom)
"""

# The area camera `c` sees: the camera, points every SECTOR_STEP_DEG degrees along the arc of
# radius range_m (ST_Project, on the ellipsoid), back to the camera; all-round: the circle alone.
_SECTOR = f"""
    (SELECT ST_MakePolygon(ST_MakeLine(CASE WHEN c.fov >= 360
                                            THEN arc.pts || ARRAY[arc.pts[1]]
                                            ELSE ARRAY[c.location] || arc.pts || ARRAY[c.location]
                                       END))
       FROM (SELECT array_agg(
                        ST_Project(c.location::geography, c.range_m,
                                   radians(c.bearing - c.fov / 2
                                           + least(k * {SECTOR_STEP_DEG}, c.fov)))::geometry
                        ORDER BY k) AS pts
               FROM generate_series(
                        0, ceil(c.fov / {SECTOR_STEP_DEG})::int - (c.fov >= 360)::int) k) arc)
"""

# `distance_m` and `azimuth` (degrees, NULL at the camera itself) are of the point seen from the
# camera. The angle test brings azimuth − bearing into [−180°, 180°) so that it wraps at north.
_COVERS = f"""
    (c.distance_m <= c.range_m + {EDGE_TOLERANCE_M}
     AND (c.fov >= 360 OR c.azimuth IS NULL
          OR abs(c.azimuth - c.bearing - 360 * floor((c.azimuth - c.bearing + 180) / 360))
             <= c.fov / 2 + {EDGE_TOLERANCE_DEG}))
"""

_CAMERA_JSON = f"""json_build_object(
    'id', c.id, 'code', c.code, 'name', NULLIF(c.name, ''), 'status', c.status,
    'distance_m', round(c.distance_m::numeric, 1), 'bearing', c.bearing, 'fov', c.fov,
    'range_m', c.range_m, 'sector', ST_AsGeoJSON({_SECTOR}, 7)::json)"""

# The candidates are the cameras in the box of the longest range or of camera_radius, whichever
# is larger; sectors are drawn only for the cameras kept. Those that cover the point, else (a
# blind spot) those within camera_radius, nearest first.
_CAMERA_BOX = degree_box("p.geom", "p.lat", "reach.m")
_CAMERAS_SQL = f"""
    WITH {_POINT_CTE},
    near AS MATERIALIZED (
        SELECT c.id, c.code, c.name, c.status, c.bearing, c.fov, c.range_m, c.location,
               ST_Distance(c.location::geography, p.geog) AS distance_m,
               degrees(ST_Azimuth(c.location::geography, p.geog)) AS azimuth
          FROM {_CAMERAS} c, p,
               (SELECT greatest(max(range_m), %(camera_radius)s) AS m FROM {_CAMERAS}) reach
         WHERE c.location && {_CAMERA_BOX}
    ),
    judged AS (
        SELECT c.*, {_COVERS} AS covers FROM near c
    ),
    kept AS (
        SELECT c.*, bool_or(c.covers) OVER () AS any_covers,
               row_number() OVER (ORDER BY c.distance_m, c.code) AS rank
          FROM judged c
         WHERE c.covers OR c.distance_m <= %(camera_radius)s
    )
    SELECT COALESCE(json_agg({_CAMERA_JSON} ORDER BY c.distance_m, c.code)
                        FILTER (WHERE c.covers), '[]'),
           COALESCE(json_agg({_CAMERA_JSON} ORDER BY c.distance_m, c.code)
                        FILTER (WHERE NOT c.any_covers AND c.rank <= %(nearby_max)s), '[]')
      FROM kept c
"""


# A blind spot lists at most this many nearby cameras (with their sectors), nearest first.
NEARBY_CAMERAS_MAX = 50


_CAMERA_SEARCH = PreparedStatement(
    "dispatch_cameras",
    _CAMERAS_SQL,
    {"lon": "float8", "lat": "float8", "camera_radius": "float8", "nearby_max": "int"},
)


def _cameras(point: Point, camera_radius_m: float) -> dict:
    covering, nearby = _CAMERA_SEARCH.fetchone(
        {
            "lon": point.x,
            "lat": point.y,
            "camera_radius": camera_radius_m,
            "nearby_max": NEARBY_CAMERAS_MAX,
        }
    )
    return {"covering": covering, "nearby": nearby, "blind_spot": not covering}


# Households with a point of their own, and those that follow their building (at its anchor,
# found through the partial index household_follows_building); the nearest first. All are
# counted; only those in the grids the user may see (every_grid, else grids) are listed, and
# their ids returned for the audit log.
_RADIUS_BOX = degree_box("p.geom", "p.lat", "%(radius)s")
_HOUSEHOLDS_SQL = f"""
    WITH {_POINT_CTE},
    near AS (
        SELECT h.id, h.grid_id, h.color, h.location AS geom{{private_columns}}
          FROM {_HOUSEHOLDS} h, p
         WHERE h.location && {_RADIUS_BOX}
           AND h.color = ANY(%(colors)s)
        UNION ALL
        SELECT h.id, h.grid_id, h.color, b.anchor{{private_columns}}
          FROM {_BUILDINGS} b
          JOIN {_HOUSEHOLDS} h ON h.building_id = b.id AND h.location IS NULL, p
         WHERE b.anchor && {_RADIUS_BOX}
           AND h.color = ANY(%(colors)s)
    ),
    measured AS (
        SELECT near.*, ST_Distance(near.geom::geography, p.geog) AS distance_m,
               (%(every_grid)s OR near.grid_id = ANY(%(grids)s)) AS listed
          FROM near, p
    )
    SELECT count(*) FILTER (WHERE h.color = %(red)s),
           count(*) FILTER (WHERE h.color = %(orange)s),
           COALESCE(json_agg(json_build_object(
               'point', json_build_array(round(ST_X(h.geom)::numeric, 7),
                                         round(ST_Y(h.geom)::numeric, 7)),
               'color', h.color,
               'distance_m', round(h.distance_m::numeric, 1){{private_properties}}
           ) ORDER BY h.distance_m, h.id) FILTER (WHERE h.listed), '[]'),
           COALESCE(array_agg(h.id) FILTER (WHERE h.listed), '{{{{}}}}')
      FROM measured h
     WHERE h.distance_m <= %(radius)s
"""


def may_see_positions(user: Any) -> bool:
    """Whether `user` may see where the priority households are (not only how many)."""
    return user is not None and user.has_perm("layers.view_household")


def may_see_personal_data(user: Any) -> bool:
    """Whether `user` may see households' personal fields (Household.PRIVATE_FIELDS)."""
    return user is not None and user.has_perm("layers.change_household")


def _households_statement(personal: bool) -> PreparedStatement:
    # Without the permission the personal columns are not even selected: they never leave the
    # database, rather than being dropped afterwards.
    fields = Household.PRIVATE_FIELDS if personal else ()
    return PreparedStatement(
        "dispatch_households_personal" if personal else "dispatch_households",
        _HOUSEHOLDS_SQL.format(
            private_columns="".join(f", h.{name}" for name in fields),
            private_properties="".join(f", '{name}', h.{name}" for name in fields),
        ),
        {
            "lon": "float8",
            "lat": "float8",
            "radius": "float8",
            "colors": "text[]",
            "red": "text",
            "orange": "text",
            "every_grid": "boolean",
            "grids": "bigint[]",
        },
    )


_HOUSEHOLD_SEARCH = {personal: _households_statement(personal) for personal in (False, True)}


def _households(
    point: Point, radius_m: float, *, personal: bool, positions: bool, grids: frozenset[int] | None
) -> tuple[dict, list[int]]:
    """The priority households near `point` and the ids of those listed: with `positions`,
    those in `grids` (None: every grid)."""
    red, orange, points, ids = _HOUSEHOLD_SEARCH[personal].fetchone(
        {
            "lon": point.x,
            "lat": point.y,
            "radius": radius_m,
            "colors": list(PRIORITY_COLORS),
            "red": Household.Color.RED,
            "orange": Household.Color.ORANGE,
            "every_grid": grids is None,
            "grids": list(grids or ()),
        }
    )
    found = {"radius_m": radius_m, "red": red, "orange": orange}
    if not positions:
        return found, []
    found["points"] = points
    return found, ids


_DUPLICATES_SQL = f"""
    WITH {_POINT_CTE}
    SELECT i.id, i.category, i.status, i.reported_at, i.distance_m
      FROM (SELECT i.*, ST_Distance(i.location::geography, p.geog) AS distance_m
              FROM {_INCIDENTS} i, p
             WHERE i.location && {_RADIUS_BOX}
               AND i.category = %(category)s
               AND i.status <> ALL(%(finished)s)
               AND i.reported_at >= %(since)s) i
     WHERE i.distance_m <= %(radius)s
     ORDER BY i.distance_m, i.id
"""


def _duplicates(point: Point, category: str) -> list[dict]:
    params = {
        "lon": point.x,
        "lat": point.y,
        "radius": DUPLICATE_RADIUS_M,
        "category": category,
        "finished": list(Incident.FINISHED),
        "since": timezone.now() - DUPLICATE_WINDOW,
    }
    with connection.cursor() as cursor:
        cursor.execute(_DUPLICATES_SQL, params)
        rows = cursor.fetchall()
    return [
        {
            "id": incident_id,
            "category": category,
            "status": status,
            "reported_at": timezone.localtime(reported_at).isoformat(),
            "distance_m": round(distance, 1),
        }
        for incident_id, category, status, reported_at, distance in rows
    ]


# One raw query: compiling the ORM's version of it (~0.4 ms) cost more than running it.
_STAFF_SQL = f"""
    SELECT unit_id, role, name, phone FROM {StaffMember._meta.db_table}
     WHERE unit_id = ANY(%s) ORDER BY role, name
"""


def _escalation(units: dict[str, dict | None]) -> list[dict]:
    """Grid → node (社区) → segment (街道) → network (区): each level's unit and all its staff."""
    unit_ids = [unit["id"] for unit in units.values() if unit is not None]
    contacts: dict[int, list[dict]] = {unit_id: [] for unit_id in unit_ids}
    with connection.cursor() as cursor:
        cursor.execute(_STAFF_SQL, [unit_ids])
        staff = cursor.fetchall()
    for unit_id, role, name, phone in staff:
        contacts[unit_id].append(
            {
                "role": role,
                "role_label": str(_ROLE_LABELS.get(role, role)),
                "name": name,
                "phone": phone,
            }
        )
    return [
        {
            "level": level,
            "unit": units[level],
            "contacts": [] if units[level] is None else contacts[units[level]["id"]],
        }
        for level in CHAIN
    ]


def _edge_distance_m(point: Point, grid_id: int) -> float:
    """Metres on the ellipsoid from `point` to the nearest edge (outer or hole) of the grid."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT ST_Distance(ST_Boundary(geom)::geography,
                                   ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography)
                  FROM {_UNITS} WHERE id = %s""",
            [point.x, point.y, grid_id],
        )
        return round(cursor.fetchone()[0], 1)


def dispatch(
    point: Point,
    radius_m: float = 200,
    camera_radius_m: float = 300,
    category: str | None = None,
    user: Any = None,
    via: audit.Via = "dispatch",
) -> dict:
    """What a dispatcher needs for a report at `point` (WGS84).

    The grid chain and grid staff (gridmap.locate), the escalation path with every level's
    contacts, the distance to the grid's edge, the cameras whose sector covers the point (else
    the nearest within `camera_radius_m`: a blind spot), red and orange households within
    `radius_m` (their positions only for a `user` with layers.view_household and only in the
    grids the user may see, layers.visits.grids_visible_to; their personal fields only with
    layers.change_household, each such read logged in the audit log as coming `via`), and, with
    a `category`, open cases of that category reported within 24 h and 50 m. Distances are
    metres on the ellipsoid.
    """
    # Imported here: layers.visits imports this module.
    from layers.visits import grids_visible_to

    location = locate(point)
    grid = location.units["grid"]
    personal = may_see_personal_data(user)
    households, listed = _households(
        point,
        radius_m,
        personal=personal,
        positions=may_see_positions(user),
        grids=grids_visible_to(user),
    )
    if personal:
        audit.log_read(user, Household, listed, Household.PRIVATE_FIELDS, via)
    return {
        "units": location.units,
        "reason": location.reason,
        "staff": location.staff,
        "escalation": _escalation(location.units),
        "edge_distance_m": None if grid is None else _edge_distance_m(point, grid["id"]),
        "cameras": _cameras(point, camera_radius_m),
        "households": households,
        "duplicates": None if category is None else _duplicates(point, category),
    }


# --- the sector layer ---------------------------------------------------------------------------

# A camera outside the box whose sector reaches into it is drawn too: the candidates are the
# cameras within the longest range of the box (the degree box taken at its poleward latitude).
# OFFSET 0 keeps the planner from inlining the sector into both the test and the output, which
# drew every sector twice (ST_Project is most of the cost).
_SECTOR_BOX = degree_box(ENVELOPE, "greatest(abs(%(ymin)s), abs(%(ymax)s))", "reach.m")
_SECTOR_ROWS = f"""
    SELECT c.id, s.geom, c.code, c.name, c.status, c.bearing, c.fov, c.range_m,
           g.code AS grid_code
      FROM {_CAMERAS} c
      CROSS JOIN (SELECT max(range_m) AS m FROM {_CAMERAS}) reach
      CROSS JOIN LATERAL (SELECT {_SECTOR} AS geom OFFSET 0) s
      LEFT JOIN {_UNITS} g ON g.id = c.grid_id
     WHERE c.location && {_SECTOR_BOX}
       AND ST_Intersects(s.geom, {ENVELOPE})
"""

_SECTOR_PROPERTIES = """json_build_object(
    'id', hit.id, 'code', hit.code, 'name', NULLIF(hit.name, ''), 'status', hit.status,
    'bearing', hit.bearing, 'fov', hit.fov, 'range_m', hit.range_m, 'grid_code', hit.grid_code)"""


def camera_sectors_geojson(bbox: BBox) -> str:
    """The sectors that cameras see, as polygons, for those intersecting `bbox`; GeoJSON text,
    capped like the map layers (maplayers.MAX_FEATURES, "truncated")."""
    return collection(_SECTOR_ROWS, _SECTOR_PROPERTIES, "id", box_params(bbox), with_id=True)
