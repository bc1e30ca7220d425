"""15-minute life circle (15分钟生活圈, GB 50180-2018): each facility's service circles along the
walkable roads, households' walking time to the nearest facility of each kind, the coverage of
grid units, the households left out (holes), and where new facilities would cover most."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from gridmap.models import GridUnit
from gridmap.sql import degree_box
from layers.models import Building, Facility, Household, Road, ServiceCircle
from layers.services import walknet
from layers.services.maplayers import ENVELOPE, BBox, box_params, collection

THRESHOLDS = (5, 10, 15)
# The fallback where a facility stands off every road (or none are loaded): GB 50180-2018's
# 5/10/15-minute radii, as the crow flies.
BUFFER_RADII_M = {5: 300, 10: 500, 15: 1000}
KINDS = tuple(Facility.Kind.values)

_FACILITIES = Facility._meta.db_table
_CIRCLES = ServiceCircle._meta.db_table
_HOUSEHOLDS = Household._meta.db_table
_BUILDINGS = Building._meta.db_table
_UNITS = GridUnit._meta.db_table
_EDGES = walknet.EDGES
_SOURCES = walknet.SOURCES
_TARGETS = walknet.TARGETS
_TIMES = "walk_time"


def speed_mps() -> float:
    return settings.GRIDMAP_WALK_SPEED_MPS


def access_m() -> float:
    return settings.GRIDMAP_WALK_ACCESS_M


def reach_m(minutes: float) -> float:
    return minutes * 60 * speed_mps()


def _execute(sql: str, params: dict | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


# --- service circles ----------------------------------------------------------------------------

# The UTM zone of a point, as an SRID (WGS 84 / UTM, north or south): circles are buffered there,
# in metres, where a 50 m corridor is true to a few centimetres across a district.
UTM_SRID = """(CASE WHEN ST_Y({p}) >= 0 THEN 32600 ELSE 32700 END
               + LEAST(60, floor((ST_X({p}) + 180) / 6)::int + 1))"""

# Corners of the buffered corridors are drawn with this many segments a quarter circle: 2 keeps a
# round end within 4 % of the access distance (under 4 m at 50 m) and halves the union's work.
QUAD_SEGS = 2

# From every vertex the walk reaches within the largest threshold, each edge at it is walked as
# far as the time left allows from that end; an edge reached from both ends with time to cover it
# is taken whole, once, otherwise the two reached ends are cut (ST_LineSubstring), so a circle
# ends mid-edge. The facility's own edge is walked both ways from where it joins. Each piece is
# buffered by the access distance in the facility's UTM zone, and the union of one facility and
# threshold is its circle — a union of corridors (cheaper than buffering the whole network at
# once, and the same polygon), not a hull.
_NETWORK_CIRCLES = f"""
    WITH dd AS (
        SELECT -d.start_vid AS facility_id, d.node, d.agg_cost
          FROM pgr_withPointsDD(%(edges)s, %(points)s,
                                (SELECT array_agg(-pid) FROM {_SOURCES} WHERE edge_id IS NOT NULL),
                                %(reach)s, directed := false) d
         WHERE d.node > 0
    ),
    threshold AS (
        SELECT m AS minutes, m * 60 * %(speed)s AS reach FROM unnest(%(minutes)s::int[]) m
    ),
    left_at_end AS (
        SELECT d.facility_id, t.minutes, e.id AS edge_id,
               t.reach - d.agg_cost AS at_source, NULL::float8 AS at_target
          FROM dd d JOIN threshold t ON d.agg_cost <= t.reach JOIN {_EDGES} e ON e.source = d.node
        UNION ALL
        SELECT d.facility_id, t.minutes, e.id, NULL, t.reach - d.agg_cost
          FROM dd d JOIN threshold t ON d.agg_cost <= t.reach JOIN {_EDGES} e ON e.target = d.node
    ),
    reached AS (
        SELECT facility_id, minutes, edge_id, max(at_source) AS a, max(at_target) AS b
          FROM left_at_end
         GROUP BY facility_id, minutes, edge_id
    ),
    piece AS (
        SELECT r.facility_id, r.minutes,
               CASE WHEN COALESCE(r.a, 0) + COALESCE(r.b, 0) >= e.cost THEN e.geom
                    ELSE ST_Collect(ST_LineSubstring(e.geom, 0, r.a / e.cost),
                                    ST_LineSubstring(e.geom, 1 - r.b / e.cost, 1)) END AS geom
          FROM reached r JOIN {_EDGES} e ON e.id = r.edge_id
        UNION ALL
        SELECT s.pid, t.minutes,
               ST_LineSubstring(e.geom, greatest(0, s.fraction - t.reach / e.cost),
                                least(1, s.fraction + t.reach / e.cost))
          FROM {_SOURCES} s JOIN {_EDGES} e ON e.id = s.edge_id CROSS JOIN threshold t
    )
    INSERT INTO {_CIRCLES} (facility_id, minutes, method, speed_mps, access_m, geom, computed_at)
    SELECT p.facility_id, p.minutes, 'network', %(speed)s, %(access)s,
           ST_Multi(ST_CollectionExtract(ST_Transform(ST_Union(
               ST_Buffer(ST_Transform(p.geom, z.srid), %(access)s, 'quad_segs={QUAD_SEGS}')),
               4326), 3)),
           now()
      FROM piece p
      JOIN {_SOURCES} s ON s.pid = p.facility_id
     CROSS JOIN LATERAL (SELECT {UTM_SRID.format(p="s.geom")} AS srid) z
     GROUP BY p.facility_id, p.minutes, z.srid
"""

_BUFFER_CIRCLES = f"""
    INSERT INTO {_CIRCLES} (facility_id, minutes, method, speed_mps, access_m, geom, computed_at)
    SELECT s.pid, r.minutes, 'buffer', %(speed)s, %(access)s,
           ST_Multi(ST_Buffer(s.geom::geography, r.radius)::geometry), now()
      FROM {_SOURCES} s
     CROSS JOIN unnest(%(minutes)s::int[], %(radii)s::float8[]) r(minutes, radius)
     WHERE s.edge_id IS NULL
"""


def _load_facilities(where: str, params: dict) -> None:
    walknet.load_points(
        _SOURCES,
        f"SELECT f.id AS pid, f.location AS geom FROM {_FACILITIES} f WHERE {where}",
        {**params, "access": access_m()},
    )


def compute_circles(facility_ids: Iterable[int] | None = None, kind: str | None = None) -> int:
    """(Re)compute the circles of these facilities (all, or all of `kind`). A facility within the
    access distance of a walkable road gets network circles, any other one buffer circles.
    Returns how many facilities were done."""
    ids = None if facility_ids is None else sorted(set(facility_ids))
    where = (
        "(%(ids)s::bigint[] IS NULL OR f.id = ANY(%(ids)s))"
        " AND (%(kind)s::text IS NULL OR f.kind = %(kind)s)"
    )
    params: dict[str, Any] = {"ids": ids, "kind": kind}
    with transaction.atomic():
        _load_facilities(where, params)
        _execute(f"DELETE FROM {_CIRCLES} c USING {_SOURCES} s WHERE c.facility_id = s.pid")
        common = {"speed": speed_mps(), "minutes": list(THRESHOLDS), "access": access_m()}
        ((count, joined),) = _execute(f"SELECT count(*), count(edge_id) FROM {_SOURCES}")
        if joined:
            _execute(
                _NETWORK_CIRCLES,
                {
                    **common,
                    "edges": walknet.EDGES_SQL,
                    "points": walknet.SOURCES_SQL,
                    "reach": reach_m(max(THRESHOLDS)),
                },
            )
        _execute(_BUFFER_CIRCLES, {**common, "radii": [BUFFER_RADII_M[m] for m in THRESHOLDS]})
    return count


_STALE = f"""
    SELECT f.id
      FROM {_FACILITIES} f
      LEFT JOIN {_CIRCLES} c ON c.facility_id = f.id
     WHERE %(kind)s::text IS NULL OR f.kind = %(kind)s
     GROUP BY f.id
    HAVING count(c.id) < %(thresholds)s
        OR bool_or(abs(c.speed_mps - %(speed)s) > 1e-9 OR abs(c.access_m - %(access)s) > 1e-9)
     ORDER BY f.id
"""


def stale_facilities(kind: str | None = None) -> list[int]:
    """Facilities whose circles are missing, incomplete, or were computed at another walking speed
    or access distance than the settings give now (GRIDMAP_WALK_SPEED_MPS, GRIDMAP_WALK_ACCESS_M)."""
    rows = _execute(
        _STALE,
        {"kind": kind, "thresholds": len(THRESHOLDS), "speed": speed_mps(), "access": access_m()},
    )
    return [r[0] for r in rows]


# --- incremental recompute ----------------------------------------------------------------------
# Signals, not calls from the admin: roads and facilities are also edited in the shell, by the
# loaders' deletes and by future APIs, and every such edit must leave the circles right. The work
# runs once per transaction, on commit, so a bulk delete of a city's roads rebuilds once.


class _Recompute:
    """The edits of one transaction, recomputed together when it commits."""

    def __init__(self) -> None:
        self.facilities: set[int] = set()
        self.roads: list[str] = []
        self.done = False

    def __call__(self) -> None:
        self.done = True
        if self.roads:
            walknet.refresh()
        ids = self.facilities | set(facilities_near(self.roads))
        existing = list(Facility.objects.filter(pk__in=ids).values_list("pk", flat=True))
        if existing:
            compute_circles(existing)


_pending = threading.local()


def _schedule(facility_ids: Iterable[int] = (), road_ewkts: Iterable[str] = ()) -> None:
    batch = getattr(_pending, "batch", None)
    # A batch whose transaction rolled back never ran: it is no longer among those waiting.
    waiting = (
        batch is not None
        and not batch.done
        and connection.in_atomic_block
        and any(callback is batch for _, callback, _ in connection.run_on_commit)
    )
    if not waiting:
        batch = _pending.batch = _Recompute()
    batch.facilities.update(facility_ids)
    batch.roads.extend(road_ewkts)
    if not waiting:
        transaction.on_commit(batch)  # outside a transaction: runs now


def facilities_near(road_ewkts: Sequence[str]) -> list[int]:
    """Facilities whose circles a change of these roads can alter: a walk is never shorter than
    the straight line, so those within the largest reach plus the access distance of a road."""
    if not road_ewkts:
        return []
    rows = _execute(
        f"""SELECT DISTINCT f.id FROM {_FACILITIES} f,
                   unnest(%(roads)s::text[]) r(ewkt)
             WHERE ST_DWithin(f.location::geography, ST_GeomFromEWKT(r.ewkt)::geography,
                              %(reach)s)""",
        {"roads": list(road_ewkts), "reach": reach_m(max(THRESHOLDS)) + access_m()},
    )
    return [r[0] for r in rows]


@receiver(post_save, sender=Facility, dispatch_uid="coverage_facility_saved")
def _facility_saved(sender: type, instance: Facility, **kwargs: Any) -> None:
    _schedule(facility_ids=[instance.pk])


@receiver(pre_save, sender=Road, dispatch_uid="coverage_road_before_save")
def _road_before_save(sender: type, instance: Road, **kwargs: Any) -> None:
    # Where the road was: the facilities near its old line lose it.
    if instance.pk:
        old = Road.objects.filter(pk=instance.pk).values_list("geom", flat=True).first()
        if old is not None:
            _schedule(road_ewkts=[old.ewkt])


@receiver(post_save, sender=Road, dispatch_uid="coverage_road_saved")
@receiver(post_delete, sender=Road, dispatch_uid="coverage_road_deleted")
def _road_changed(sender: type, instance: Road, **kwargs: Any) -> None:
    _schedule(road_ewkts=[instance.geom.ewkt])


# --- walking time from households ---------------------------------------------------------------
# Households are walked from where they live: their own point, else their building's anchor.
# The targets are those points, once each: a building's anchor (pid = building id) and each
# household with a point of its own (pid = −household id).
_HOUSEHOLD_PID = "CASE WHEN h.location IS NULL THEN h.building_id ELSE -h.id END"


# Each grid with its ancestors: a unit's households are those of the grids whose chain holds it.
_GRID_CHAIN = f"""
    SELECT g.id AS grid_id, n.id AS node_id, s.id AS segment_id, s.parent_id AS network_id
      FROM {_UNITS} g
      JOIN {_UNITS} n ON n.id = g.parent_id
      JOIN {_UNITS} s ON s.id = n.parent_id
     WHERE g.level = 'grid'
"""


def _scope(units: Sequence[int] | None, bbox: BBox | None) -> tuple[str, dict]:
    """SQL condition on household `h` (and its point `pt`): in the grids under these units (ids,
    of any level), and inside the box."""
    conditions, params = [], {}
    if units is not None:
        # `= ANY` of a constant array is hashed, so thousands of units cost one pass.
        conditions.append(
            f"""h.grid_id IN (SELECT c.grid_id FROM ({_GRID_CHAIN}) c
                               WHERE c.grid_id = ANY(%(units)s) OR c.node_id = ANY(%(units)s)
                                  OR c.segment_id = ANY(%(units)s)
                                  OR c.network_id = ANY(%(units)s))"""
        )
        params["units"] = sorted(set(units))
    if bbox is not None:
        conditions.append(f"ST_Intersects(pt.geom, {ENVELOPE})")
        params.update(box_params(bbox))
    return " AND ".join(conditions) or "true", params


_HOUSEHOLD_POINTS = f"""
    {_HOUSEHOLDS} h
    CROSS JOIN LATERAL (
        SELECT COALESCE(h.location, (SELECT b.anchor FROM {_BUILDINGS} b
                                      WHERE b.id = h.building_id)) AS geom) pt
"""


def _load_targets(where: str, params: dict) -> None:
    walknet.load_points(
        _TARGETS,
        f"SELECT DISTINCT {_HOUSEHOLD_PID} AS pid, pt.geom FROM {_HOUSEHOLD_POINTS} WHERE {where}",
        {**params, "access": access_m()},
    )


# Metres from target `t` on edge `e` to the nearest source, given the cost `ds`/`dt` of reaching
# the edge's ends (NULL: not within reach) and `same.fractions` those of the sources on the same
# edge (NULL: none).
_TARGET_METRES = """least(ds.agg_cost + t.fraction * e.cost,
                          dt.agg_cost + (1 - t.fraction) * e.cost,
                          CASE WHEN same.fractions IS NOT NULL THEN
                              (SELECT min(abs(f - t.fraction)) FROM unnest(same.fractions) f)
                              * e.cost END)"""

# Minutes from each target to the nearest source (the kind's facilities, as loaded): walked from
# all of them at once (equicost: each vertex keeps its nearest source), up to the largest
# threshold; NULL beyond it or off every road. Sources off every road count by their buffers.
_WALK_TIMES = f"""
    INSERT INTO {_TIMES} (kind, pid, minutes)
    WITH dd AS MATERIALIZED (
        SELECT d.node, d.agg_cost
          FROM pgr_withPointsDD(%(edges)s, %(points)s,
                                (SELECT array_agg(-pid) FROM {_SOURCES} WHERE edge_id IS NOT NULL),
                                %(reach)s, directed := false, equicost := true) d
         WHERE d.node > 0 AND %(any_joined)s
    ),
    walked AS (
        SELECT t.pid, {_TARGET_METRES} / %(speed)s / 60 AS minutes
          FROM {_TARGETS} t
          JOIN {_EDGES} e ON e.id = t.edge_id
          LEFT JOIN dd ds ON ds.node = e.source
          LEFT JOIN dd dt ON dt.node = e.target
          LEFT JOIN (SELECT edge_id, array_agg(fraction) AS fractions FROM {_SOURCES}
                      WHERE edge_id IS NOT NULL GROUP BY edge_id) same ON same.edge_id = t.edge_id
    ),
    buffered AS (
        SELECT t.pid, min(r.minutes)::float8 AS minutes
          FROM {_SOURCES} s
         CROSS JOIN unnest(%(minutes)s::int[], %(radii)s::float8[]) r(minutes, radius)
          JOIN {_TARGETS} t
            ON t.geom && {degree_box("s.geom", "ST_Y(s.geom)", "r.radius")}
           AND ST_DWithin(t.geom::geography, s.geom::geography, r.radius)
         WHERE s.edge_id IS NULL
         GROUP BY t.pid
    )
    SELECT %(kind)s, t.pid,
           NULLIF(least(CASE WHEN w.minutes <= %(max_minutes)s THEN w.minutes END,
                        b.minutes), 'Infinity')
      FROM {_TARGETS} t
      LEFT JOIN walked w ON w.pid = t.pid
      LEFT JOIN buffered b ON b.pid = t.pid
"""


def _walk_times(kinds: Sequence[str], where: str, params: dict) -> None:
    """Fill temporary table walk_time (kind, pid, minutes) for the households of `where`."""
    _load_targets(where, params)
    _execute(f"DROP TABLE IF EXISTS {_TIMES}")
    _execute(
        f"CREATE TEMPORARY TABLE {_TIMES} (kind text, pid bigint, minutes float8) ON COMMIT DROP"
    )
    for kind in kinds:
        _load_facilities("f.kind = %(kind)s", {"kind": kind})
        ((joined,),) = _execute(f"SELECT count(edge_id) FROM {_SOURCES}")
        _execute(
            _WALK_TIMES,
            {
                "kind": kind,
                "edges": walknet.EDGES_SQL,
                "points": walknet.SOURCES_SQL,
                "any_joined": joined > 0,
                "reach": reach_m(max(THRESHOLDS)),
                "speed": speed_mps(),
                "max_minutes": max(THRESHOLDS),
                "minutes": list(THRESHOLDS),
                "radii": [BUFFER_RADII_M[m] for m in THRESHOLDS],
            },
        )
    _execute(f"CREATE INDEX ON {_TIMES} (pid, kind)")
    _execute(f"ANALYZE {_TIMES}")


def household_minutes(kind: str, **scope: Any) -> dict[int, float | None]:
    """Walking minutes from each household (by id) to the nearest facility of `kind`; None when
    more than the largest threshold or unreachable."""
    where, params = _scope(scope.get("units"), scope.get("bbox"))
    with transaction.atomic():
        _walk_times([kind], where, params)
        rows = _execute(
            f"""SELECT h.id, w.minutes FROM {_HOUSEHOLD_POINTS}
                  JOIN {_TIMES} w ON w.pid = {_HOUSEHOLD_PID}
                 WHERE {where}""",
            params,
        )
    return dict(rows)


# --- coverage of units --------------------------------------------------------------------------


def _within(m: int) -> str:
    return f"""'within_{m}', json_build_object(
            'households', round(sum(p.h{m})::numeric / nullif(sum(p.households), 0), 4),
            'residents', round(sum(p.r{m})::numeric / nullif(sum(p.residents), 0), 4))"""


# Households and residents within each threshold per grid and kind, then summed up the chain to
# every unit asked for: one pass over the households, whatever the number of units.
_UNIT_COVERAGE = f"""
    WITH per_grid AS MATERIALIZED (
        SELECT h.grid_id, w.kind, count(*) AS households, sum(h.residents) AS residents,
               {
    ", ".join(
        f"count(*) FILTER (WHERE w.minutes <= {m}) AS h{m}, "
        f"COALESCE(sum(h.residents) FILTER (WHERE w.minutes <= {m}), 0) AS r{m}"
        for m in THRESHOLDS
    )
}
          FROM {_HOUSEHOLDS} h
          JOIN {_TIMES} w ON w.pid = {_HOUSEHOLD_PID}
         WHERE {{where}}
         GROUP BY h.grid_id, w.kind
    ),
    rolled AS (
        SELECT u.unit_id, p.*
          FROM per_grid p
          JOIN ({_GRID_CHAIN}) c ON c.grid_id = p.grid_id
         CROSS JOIN LATERAL unnest(ARRAY[c.grid_id, c.node_id, c.segment_id, c.network_id]) u(unit_id)
         WHERE u.unit_id = ANY(%(units)s)
    ),
    per_kind AS (
        SELECT p.unit_id, p.kind,
               json_build_object('kind', p.kind, 'households', sum(p.households),
                                 'residents', sum(p.residents),
                                 {", ".join(_within(m) for m in THRESHOLDS)}) AS body
          FROM rolled p
         GROUP BY p.unit_id, p.kind
    )
    SELECT u.id, u.code, u.name, u.level,
           COALESCE(json_agg(p.body ORDER BY p.kind) FILTER (WHERE p.kind IS NOT NULL), '[]')
      FROM {_UNITS} u LEFT JOIN per_kind p ON p.unit_id = u.id
     WHERE u.id = ANY(%(units)s)
     GROUP BY u.id, u.code, u.name, u.level
     ORDER BY u.code
"""


def unit_coverage(units: Sequence[GridUnit], kinds: Sequence[str] = KINDS) -> list[dict]:
    """Per unit (any level) and kind: households, residents, and the shares of each within
    5/10/15 minutes' walk of a facility of that kind."""
    if not units:
        return []
    ids = [u.pk for u in units]
    where, params = _scope(ids, None)
    with transaction.atomic():
        _walk_times(kinds, where, params)
        rows = _execute(_UNIT_COVERAGE.format(where=where), params)
    return [
        {"id": pk, "code": code, "name": name, "level": level, "kinds": body}
        for pk, code, name, level, body in rows
    ]


def coverage_table(network: GridUnit, kinds: Sequence[str] = KINDS) -> list[dict]:
    """The whole table for one district: every unit under `network` (and itself), every kind."""
    units = list(GridUnit.objects.filter(code__startswith=network.code).only("pk"))
    return unit_coverage(units, kinds)


# --- holes --------------------------------------------------------------------------------------

# The households not within `minutes` of the kind, per building (at its anchor: no household's
# own point or personal field leaves the database), and the grids by uncovered residents.
_HOLES = f"""
    WITH hole AS MATERIALIZED (
        SELECT h.building_id, h.grid_id, h.residents
          FROM {_HOUSEHOLD_POINTS}
          JOIN {_TIMES} w ON w.pid = {_HOUSEHOLD_PID}
         WHERE {{where}} AND (w.minutes IS NULL OR w.minutes > %(minutes)s)
    ),
    per_building AS (
        SELECT b.id, b.anchor AS geom, b.road || b.number AS address,
               count(*) AS households, sum(hole.residents) AS residents
          FROM hole JOIN {_BUILDINGS} b ON b.id = hole.building_id
         GROUP BY b.id
    ),
    per_grid AS (
        SELECT g.id, g.code, g.name, count(*) AS households, sum(hole.residents) AS residents
          FROM hole JOIN {_UNITS} g ON g.id = hole.grid_id
         GROUP BY g.id
    )
    SELECT json_build_object(
        'type', 'FeatureCollection',
        'kind', %(kind)s::text, 'minutes', %(minutes)s::int,
        'features', (SELECT COALESCE(json_agg(json_build_object(
                         'type', 'Feature', 'id', p.id,
                         'geometry', ST_AsGeoJSON(p.geom, 7)::json,
                         'properties', json_build_object(
                             'building_id', p.id, 'address', p.address,
                             'households', p.households, 'residents', p.residents))
                         ORDER BY p.residents DESC, p.id), '[]') FROM per_building p),
        'grids', (SELECT COALESCE(json_agg(json_build_object(
                      'id', g.id, 'code', g.code, 'name', g.name,
                      'households', g.households, 'residents', g.residents)
                      ORDER BY g.residents DESC, g.code), '[]') FROM per_grid g)
    )::text
"""


def holes_geojson(
    kind: str, minutes: int, units: Sequence[int] | None = None, bbox: BBox | None = None
) -> str:
    where, params = _scope(units, bbox)
    with transaction.atomic():
        _walk_times([kind], where, params)
        ((text,),) = _execute(
            _HOLES.format(where=where), {**params, "kind": kind, "minutes": minutes}
        )
    return text


# --- per building and per household -------------------------------------------------------------

# Each building with households in scope, at its anchor: how many of them (and their residents)
# are within each threshold of the kind, and the longest walk among them (NULL if any is beyond
# the largest threshold). Counts only: no household's own point or personal field leaves.
_BUILDINGS_COVERAGE = f"""
    WITH per_building AS (
        SELECT h.building_id, count(*) AS households, sum(h.residents) AS residents,
               CASE WHEN bool_and(w.minutes IS NOT NULL) THEN max(w.minutes) END AS minutes,
               {
    ", ".join(
        f"count(*) FILTER (WHERE w.minutes <= {m}) AS h{m}, "
        f"COALESCE(sum(h.residents) FILTER (WHERE w.minutes <= {m}), 0) AS r{m}"
        for m in THRESHOLDS
    )
}
          FROM {_HOUSEHOLD_POINTS}
          JOIN {_TIMES} w ON w.pid = {_HOUSEHOLD_PID}
         WHERE {{where}}
         GROUP BY h.building_id
    )
    SELECT json_build_object(
        'type', 'FeatureCollection', 'kind', %(kind)s::text,
        'features', COALESCE(json_agg(json_build_object(
            'type', 'Feature', 'id', b.id,
            'geometry', ST_AsGeoJSON(b.anchor, 7)::json,
            'properties', json_build_object(
                'building_id', b.id, 'address', b.road || b.number,
                'grid_id', g.id, 'grid_code', g.code, 'grid_name', g.name,
                'households', p.households, 'residents', p.residents,
                'minutes', round(p.minutes::numeric, 1),
                'within', json_build_object({
    ", ".join(
        f"'{m}', json_build_object('households', p.h{m}, 'residents', p.r{m})" for m in THRESHOLDS
    )
})))
            ORDER BY b.id), '[]'))::text
      FROM per_building p
      JOIN {_BUILDINGS} b ON b.id = p.building_id
      LEFT JOIN {_UNITS} g ON g.id = b.grid_id
"""


def buildings_geojson(
    kind: str, units: Sequence[int] | None = None, bbox: BBox | None = None
) -> str:
    """The buildings of the scope as points, each with its households' walking time to the
    nearest facility of `kind`: the longest, and how many are within 5/10/15 minutes."""
    where, params = _scope(units, bbox)
    with transaction.atomic():
        _walk_times([kind], where, params)
        ((text,),) = _execute(_BUILDINGS_COVERAGE.format(where=where), {**params, "kind": kind})
    return text


# Each household of the scope: minutes to the nearest facility of every kind (NULL beyond the
# largest threshold) and the kinds it lacks within it. Ids and minutes only.
_HOUSEHOLDS_COVERAGE = f"""
    SELECT h.id, h.building_id, g.code,
           json_object_agg(w.kind, round(w.minutes::numeric, 1) ORDER BY w.kind),
           COALESCE(array_agg(w.kind ORDER BY w.kind) FILTER (WHERE w.minutes IS NULL), '{{{{}}}}')
      FROM {_HOUSEHOLD_POINTS}
      JOIN {_TIMES} w ON w.pid = {_HOUSEHOLD_PID}
      LEFT JOIN {_UNITS} g ON g.id = h.grid_id
     WHERE {{where}}
     GROUP BY h.id, h.building_id, g.code
     ORDER BY h.id
"""


def household_coverage(units: Sequence[int], kinds: Sequence[str] = KINDS) -> list[dict]:
    """Per household under `units`: walking minutes to the nearest facility of each kind, and the
    kinds not within the largest threshold (the household's gaps)."""
    where, params = _scope(units, None)
    with transaction.atomic():
        _walk_times(kinds, where, params)
        rows = _execute(_HOUSEHOLDS_COVERAGE.format(where=where), params)
    return [
        {"id": pk, "building_id": building, "grid_code": code, "minutes": minutes, "lacking": gaps}
        for pk, building, code, minutes, gaps in rows
    ]


# --- siting -------------------------------------------------------------------------------------

# For each candidate site (as a source) the uncovered targets it would reach within %(reach)s.
_CANDIDATE_REACH = f"""
    WITH dd AS MATERIALIZED (
        SELECT -d.start_vid AS site, d.node, d.agg_cost
          FROM pgr_withPointsDD(%(edges)s, %(points)s,
                                (SELECT array_agg(-pid) FROM {_SOURCES} WHERE edge_id IS NOT NULL),
                                %(reach)s, directed := false) d
         WHERE d.node > 0
    ),
    uncovered AS (
        SELECT t.pid, t.edge_id, t.fraction, u.residents, u.households
          FROM {_TARGETS} t
          JOIN (SELECT w.pid, sum(h.residents) AS residents, count(*) AS households
                  FROM {_HOUSEHOLD_POINTS}
                  JOIN {_TIMES} w ON w.pid = {_HOUSEHOLD_PID}
                 WHERE {{where}} AND (w.minutes IS NULL OR w.minutes > %(minutes)s)
                 GROUP BY w.pid) u ON u.pid = t.pid
         WHERE t.edge_id IS NOT NULL
    ),
    reached AS (
        SELECT d.site, t.pid, t.residents, t.households
          FROM uncovered t
          JOIN {_EDGES} e ON e.id = t.edge_id
          JOIN dd d ON (d.node = e.source AND d.agg_cost + t.fraction * e.cost <= %(reach)s)
                    OR (d.node = e.target AND d.agg_cost + (1 - t.fraction) * e.cost <= %(reach)s)
        UNION
        SELECT s.pid, t.pid, t.residents, t.households
          FROM uncovered t
          JOIN {_SOURCES} s ON s.edge_id = t.edge_id
          JOIN {_EDGES} e ON e.id = t.edge_id
         WHERE abs(s.fraction - t.fraction) * e.cost <= %(reach)s
    )
    SELECT site, pid, residents, households FROM reached
"""


def siting(
    kind: str,
    minutes: int,
    k: int,
    units: Sequence[int] | None = None,
    bbox: BBox | None = None,
    candidates: Sequence[tuple[float, float]] | None = None,
) -> list[dict]:
    """Up to `k` sites where a new facility of `kind` would bring the most residents now beyond
    `minutes` within it (greedy maximal coverage: each pick counts only the residents the earlier
    picks left), with what each adds. The sites are chosen among `candidates` (lon, lat), or else
    among the anchors of the scope's buildings."""
    where, params = _scope(units, bbox)
    with transaction.atomic():
        _walk_times([kind], where, params)
        if candidates is not None:
            sites_sql = """SELECT c.n AS pid, ST_SetSRID(ST_MakePoint(c.lon, c.lat), 4326) AS geom
                             FROM unnest(%(lons)s::float8[], %(lats)s::float8[])
                                  WITH ORDINALITY c(lon, lat, n)"""
            site_params = {"lons": [c[0] for c in candidates], "lats": [c[1] for c in candidates]}
        else:
            sites_sql = f"""SELECT b.id AS pid, b.anchor AS geom FROM {_BUILDINGS} b
                 WHERE b.id IN (SELECT h.building_id FROM {_HOUSEHOLD_POINTS} WHERE {where})"""
            site_params = params
        walknet.load_points(_SOURCES, sites_sql, {**site_params, "access": access_m()})
        rows = _execute(
            _CANDIDATE_REACH.format(where=where),
            {
                **params,
                "edges": walknet.EDGES_SQL,
                "points": walknet.SOURCES_SQL,
                "reach": reach_m(minutes),
                "minutes": minutes,
            },
        )
        reach: dict[int, set[int]] = {}
        weight: dict[int, tuple[int, int]] = {}
        for site, pid, residents, households in rows:
            reach.setdefault(site, set()).add(pid)
            weight[pid] = (residents, households)
        picks = []
        covered: set[int] = set()
        for _ in range(k):
            gains = {
                site: sum(weight[p][0] for p in pids - covered) for site, pids in reach.items()
            }
            best = max(gains, key=lambda s: (gains[s], -s), default=None)
            if best is None or gains[best] == 0:
                break
            new = reach.pop(best) - covered
            covered |= new
            picks.append((best, new))
    if candidates is not None:
        described = {
            n: {
                "building_id": None,
                "name": f"候选点 {n} / candidate {n}",
                "point": list(candidates[n - 1]),
            }
            for n, _ in picks
        }
    else:
        buildings = Building.objects.filter(pk__in=[b for b, _ in picks])
        described = {
            b.pk: {"building_id": b.pk, "name": str(b), "point": [b.anchor.x, b.anchor.y]}
            for b in buildings
        }
    return [
        {
            "rank": rank,
            **described[site],
            "residents": sum(weight[p][0] for p in new),
            "households": sum(weight[p][1] for p in new),
        }
        for rank, (site, new) in enumerate(picks, start=1)
    ]


# --- the isochrone layer ------------------------------------------------------------------------

_ISOCHRONES = f"""
    SELECT c.id, c.geom, c.facility_id, f.name AS facility_name, f.kind, c.minutes, c.method,
           c.speed_mps, c.access_m, c.computed_at,
           abs(c.speed_mps - %(speed)s) > 1e-9 OR abs(c.access_m - %(access)s) > 1e-9 AS stale
      FROM {_CIRCLES} c
      JOIN {Facility._meta.db_table} f ON f.id = c.facility_id
     WHERE f.kind = %(kind)s AND c.minutes = %(minutes)s {{in_box}}
"""

_ISOCHRONE_PROPERTIES = """json_build_object(
    'facility_id', hit.facility_id, 'facility_name', hit.facility_name, 'kind', hit.kind,
    'minutes', hit.minutes, 'method', hit.method, 'speed_mps', hit.speed_mps,
    'access_m', hit.access_m, 'computed_at', hit.computed_at, 'stale', hit.stale)"""


def isochrones_geojson(kind: str, minutes: int, bbox: BBox | None = None) -> str:
    """The stored service circles of `kind` for one threshold, as a GeoJSON FeatureCollection."""
    params: dict = {"kind": kind, "minutes": minutes, "speed": speed_mps(), "access": access_m()}
    in_box = ""
    if bbox is not None:
        in_box = f"AND c.geom && {ENVELOPE}"
        params.update(box_params(bbox))
    rows = _ISOCHRONES.format(in_box=in_box)
    return collection(rows, _ISOCHRONE_PROPERTIES, "facility_id", params, with_id=True)
