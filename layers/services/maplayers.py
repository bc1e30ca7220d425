"""Map layers inside a bounding box as GeoJSON, built in the database: building footprints,
cameras, service facilities, and households aggregated by building or by grid (never one feature per household)."""

from __future__ import annotations

from django.db import connection

from gridmap.models import GridUnit
from layers.models import Building, Camera, Facility, Household

# A layer sends at most this many features and says "truncated": true when there were more;
# a map zoomed out that far should ask for a smaller box.
MAX_FEATURES = 5000

# Households with a location of their own are snapped (ST_SnapToGrid) to a lattice of this many
# Web Mercator metres — metric-ish: EPSG:3857 gives the same cells whatever the box, and at 40°N
# 10 of its metres are ~7.7 m on the ground. Those on one lattice point are counted together and
# shown at it, so no household's own point leaves the database.
CELL_SIZE_M = 10

BBox = tuple[float, float, float, float]

# The box as SQL, with its corners from box_params().
ENVELOPE = "ST_MakeEnvelope(%(xmin)s, %(ymin)s, %(xmax)s, %(ymax)s, 4326)"

# One statement per layer: serialising features in Python (DRF-GIS) is many times slower on a
# large layer, so the rows are picked and capped first (`rows`, a SELECT with the columns
# `properties` uses and a `geom`), and only the kept ones are turned into one json value.
_COLLECTION = """
    WITH hit AS MATERIALIZED ({rows} ORDER BY {order} LIMIT %(cap)s + 1)
    SELECT json_build_object(
               'type', 'FeatureCollection',
               'truncated', (SELECT count(*) FROM hit) > %(cap)s,
               'features', COALESCE(json_agg(json_build_object(
                   'type', 'Feature',
                   {feature_id}
                   'geometry', ST_AsGeoJSON(hit.geom, 7)::json,
                   'properties', {properties}
               ) ORDER BY {order}), '[]'::json)
           )::text
      FROM (SELECT * FROM hit ORDER BY {order} LIMIT %(cap)s) hit
"""


def collection(rows: str, properties: str, order: str, params: dict, *, with_id: bool) -> str:
    sql = _COLLECTION.format(
        rows=rows,
        properties=properties,
        order=order,
        feature_id="'id', hit.id," if with_id else "",
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "cap": MAX_FEATURES})
        return cursor.fetchone()[0]


def box_params(bbox: BBox) -> dict[str, float]:
    """The query parameters ENVELOPE takes."""
    return dict(zip(("xmin", "ymin", "xmax", "ymax"), bbox, strict=True))


def buildings_geojson(bbox: BBox) -> str:
    """Footprints intersecting `bbox`, with address, kind, floors, grid code and household count."""
    rows = f"""
        SELECT b.id, b.footprint AS geom, b.name, b.road, b.number, b.kind, b.floors,
               g.code AS grid_code
          FROM {Building._meta.db_table} b
          LEFT JOIN {GridUnit._meta.db_table} g ON g.id = b.grid_id
         WHERE ST_Intersects(b.footprint, {ENVELOPE})
    """
    properties = f"""json_build_object(
        'id', hit.id, 'name', NULLIF(hit.name, ''), 'address', hit.road || hit.number,
        'road', hit.road, 'number', hit.number, 'kind', hit.kind, 'floors', hit.floors,
        'grid_code', hit.grid_code,
        'households', (SELECT count(*) FROM {Household._meta.db_table} h
                        WHERE h.building_id = hit.id))"""
    return collection(rows, properties, "id", box_params(bbox), with_id=True)


def cameras_geojson(bbox: BBox) -> str:
    """Cameras inside `bbox`: where they look (bearing, fov, range_m), status and grid code."""
    rows = f"""
        SELECT c.id, c.location AS geom, c.code, c.name, c.bearing, c.fov, c.range_m, c.status,
               g.code AS grid_code
          FROM {Camera._meta.db_table} c
          LEFT JOIN {GridUnit._meta.db_table} g ON g.id = c.grid_id
         WHERE ST_Intersects(c.location, {ENVELOPE})
    """
    properties = """json_build_object(
        'id', hit.id, 'code', hit.code, 'name', NULLIF(hit.name, ''), 'bearing', hit.bearing,
        'fov', hit.fov, 'range_m', hit.range_m, 'status', hit.status, 'grid_code', hit.grid_code)"""
    return collection(rows, properties, "id", box_params(bbox), with_id=True)


def facilities_geojson(bbox: BBox, kind: str | None = None) -> str:
    """Service facilities inside `bbox` (of one kind, if given), with their grid code."""
    rows = f"""
        SELECT f.id, f.location AS geom, f.kind, f.name, f.address, g.code AS grid_code
          FROM {Facility._meta.db_table} f
          LEFT JOIN {GridUnit._meta.db_table} g ON g.id = f.grid_id
         WHERE ST_Intersects(f.location, {ENVELOPE})
           AND (%(kind)s::text IS NULL OR f.kind = %(kind)s)
    """
    properties = """json_build_object(
        'id', hit.id, 'kind', hit.kind, 'name', hit.name, 'address', NULLIF(hit.address, ''),
        'grid_code', hit.grid_code)"""
    return collection(rows, properties, "id", {**box_params(bbox), "kind": kind}, with_id=True)


# Aggregates over households `h`: households, residents and households by color.
_COLOR_PARAMS = {f"color{i}": color for i, color in enumerate(Household.Color.values)}
_COUNTS = (
    "count(h.id) AS households, COALESCE(sum(h.residents), 0) AS residents, json_build_object("
    + ", ".join(
        f"%({name})s::text, count(h.id) FILTER (WHERE h.color = %({name})s)"
        for name in _COLOR_PARAMS
    )
    + ") AS colors"
)
# Colour classes are shown only for groups of at least this many households: in a smaller group
# (one household in a house) the colour would tell who needs attention.
MIN_GROUP_FOR_COLORS = 3
_COUNT_PROPERTIES = (
    "'households', hit.households, 'residents', hit.residents, "
    "'colors', CASE WHEN hit.households >= %(min_group)s THEN hit.colors END"
)


def households_by_building_geojson(bbox: BBox) -> str:
    """Households counted per building, at the building's anchor; households with a location of
    their own counted per cell of CELL_SIZE_M (group "location")."""
    params = {
        **box_params(bbox),
        **_COLOR_PARAMS,
        "cell": CELL_SIZE_M,
        "min_group": MIN_GROUP_FOR_COLORS,
    }
    households, buildings = Household._meta.db_table, Building._meta.db_table
    rows = f"""
        SELECT 'building' AS "group", b.id, NULL::float8 AS x, NULL::float8 AS y,
               b.anchor AS geom, {_COUNTS}
          FROM {households} h
          JOIN {buildings} b ON b.id = h.building_id
         WHERE h.location IS NULL AND ST_Intersects(b.anchor, {ENVELOPE})
         GROUP BY b.id
        UNION ALL
        SELECT 'location', NULL, cell.x, cell.y,
               ST_Transform(ST_SetSRID(ST_MakePoint(cell.x, cell.y), 3857), 4326), {_COUNTS}
          FROM {households} h,
               LATERAL (SELECT ST_X(p) AS x, ST_Y(p) AS y
                          FROM ST_SnapToGrid(ST_Transform(h.location, 3857), %(cell)s) p) cell
         WHERE ST_Intersects(h.location, {ENVELOPE})
         GROUP BY cell.x, cell.y
    """
    properties = f"""json_build_object(
        'group', hit."group", 'building_id', hit.id, {_COUNT_PROPERTIES})"""
    return collection(rows, properties, '"group", id, x, y', params, with_id=False)


def households_by_grid_geojson(bbox: BBox) -> str:
    """Households counted per grid intersecting `bbox`, at a point on the grid's surface; grids
    without households are included with zeros."""
    params = {**box_params(bbox), **_COLOR_PARAMS, "min_group": MIN_GROUP_FOR_COLORS}
    rows = f"""
        SELECT g.id, g.code, g.name, ST_PointOnSurface(g.geom) AS geom, {_COUNTS}
          FROM {GridUnit._meta.db_table} g
          LEFT JOIN {Household._meta.db_table} h ON h.grid_id = g.id
         WHERE g.level = 'grid' AND ST_Intersects(g.geom, {ENVELOPE})
         GROUP BY g.id
    """
    properties = f"""json_build_object(
        'group', 'grid', 'grid_id', hit.id, 'grid_code', hit.code, 'grid_name', hit.name,
        {_COUNT_PROPERTIES})"""
    return collection(rows, properties, "code", params, with_id=False)
