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

# From every vertex the walk reaches within the largest threshold, each edge at it is walked as
# far as the time left allows (ST_LineSubstring from that end), so a circle ends mid-edge; the
# facility's own edge is walked both ways from where it joins. The pieces of one facility and
# threshold, buffered by the access distance in metres, are its circle.
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
    piece AS (
        SELECT d.facility_id, t.minutes,
               ST_LineSubstring(e.geom, 0, least(1, (t.reach - d.agg_cost) / e.cost)) AS geom
          FROM dd d JOIN threshold t ON d.agg_cost <= t.reach JOIN {_EDGES} e ON e.source = d.node
        UNION ALL
        SELECT d.facility_id, t.minutes,
               ST_LineSubstring(e.geom, greatest(0, 1 - (t.reach - d.agg_cost) / e.cost), 1)
          FROM dd d JOIN threshold t ON d.agg_cost <= t.reach JOIN {_EDGES} e ON e.target = d.node
        UNION ALL
        SELECT s.pid, t.minutes,
               ST_LineSubstring(e.geom, greatest(0, s.fraction - t.reach / e.cost),
                                least(1, s.fraction + t.reach / e.cost))
          FROM {_SOURCES} s JOIN {_EDGES} e ON e.id = s.edge_id CROSS JOIN threshold t
    )
    INSERT INTO {_CIRCLES} (facility_id, minutes, method, speed_mps, geom, computed_at)
    SELECT facility_id, minutes, 'network', %(speed)s,
           ST_Multi(ST_CollectionExtract(
               ST_Buffer(ST_Union(geom)::geography, %(access)s)::geometry, 3)),
           now()
      FROM piece
     GROUP BY facility_id, minutes
"""

_BUFFER_CIRCLES = f"""
    INSERT INTO {_CIRCLES} (facility_id, minutes, method, speed_mps, geom, computed_at)
    SELECT s.pid, r.minutes, 'buffer', %(speed)s,
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


def _scope(prefixes: Sequence[str] | None, bbox: BBox | None) -> tuple[str, dict]:
    """SQL condition on household `h` (and its point `pt`): in the grids under these unit codes,
    and inside the box."""
    conditions, params = [], {}
    if prefixes is not None:
        conditions.append(
            f"h.grid_id IN (SELECT g.id FROM {_UNITS} g WHERE g.code LIKE ANY(%(prefixes)s))"
        )
        params["prefixes"] = [f"{p}%" for p in prefixes]
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
# the edge's ends (NULL: not within reach) and `same` the sources on the same edge.
_TARGET_METRES = """least(ds.agg_cost + t.fraction * e.cost,
                          dt.agg_cost + (1 - t.fraction) * e.cost,
                          same.fraction_gap * e.cost)"""

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
          LEFT JOIN LATERAL (SELECT min(abs(s.fraction - t.fraction)) AS fraction_gap
                               FROM {_SOURCES} s WHERE s.edge_id = t.edge_id) same ON true
    ),
    buffered AS (
        SELECT t.pid, min(r.minutes)::float8 AS minutes
          FROM {_TARGETS} t
          JOIN {_SOURCES} s ON s.edge_id IS NULL
          JOIN unnest(%(minutes)s::int[], %(radii)s::float8[]) r(minutes, radius)
            ON ST_DWithin(t.geom::geography, s.geom::geography, r.radius)
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
    where, params = _scope(scope.get("prefixes"), scope.get("bbox"))
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

_SHARES = ", ".join(
    f"""'within_{m}', json_build_object(
            'households', round(count(*) FILTER (WHERE w.minutes <= {m})::numeric
                                / nullif(count(*), 0), 4),
            'residents', round(COALESCE(sum(h.residents) FILTER (WHERE w.minutes <= {m}), 0)::numeric
                               / nullif(sum(h.residents), 0), 4))"""
    for m in THRESHOLDS
)

_UNIT_COVERAGE = f"""
    WITH unit AS (SELECT id, code, name, level FROM {_UNITS} WHERE id = ANY(%(units)s)),
    per_kind AS (
        SELECT u.id AS unit_id, w.kind,
               json_build_object('kind', w.kind, 'households', count(*),
                                 'residents', COALESCE(sum(h.residents), 0), {_SHARES}) AS body
          FROM unit u
          JOIN {_UNITS} g ON g.level = 'grid' AND g.code LIKE u.code || '%%'
          JOIN {_HOUSEHOLDS} h ON h.grid_id = g.id
          JOIN {_TIMES} w ON w.pid = {_HOUSEHOLD_PID}
         GROUP BY u.id, w.kind
    )
    SELECT u.id, u.code, u.name, u.level,
           COALESCE(json_agg(p.body ORDER BY p.kind) FILTER (WHERE p.kind IS NOT NULL), '[]')
      FROM unit u LEFT JOIN per_kind p ON p.unit_id = u.id
     GROUP BY u.id, u.code, u.name, u.level
     ORDER BY u.code
"""


def unit_coverage(units: Sequence[GridUnit], kinds: Sequence[str] = KINDS) -> list[dict]:
    """Per unit and kind: households, residents, and the shares of each within 5/10/15 minutes'
    walk of a facility of that kind."""
    if not units:
        return []
    prefixes = sorted({u.code for u in units})
    where, params = _scope(prefixes, None)
    with transaction.atomic():
        _walk_times(kinds, where, params)
        rows = _execute(_UNIT_COVERAGE, {"units": [u.pk for u in units]})
    return [
        {"id": pk, "code": code, "name": name, "level": level, "kinds": body}
        for pk, code, name, level, body in rows
    ]


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
    kind: str, minutes: int, prefixes: Sequence[str] | None = None, bbox: BBox | None = None
) -> str:
    where, params = _scope(prefixes, bbox)
    with transaction.atomic():
        _walk_times([kind], where, params)
        ((text,),) = _execute(
            _HOLES.format(where=where), {**params, "kind": kind, "minutes": minutes}
        )
    return text


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
    prefixes: Sequence[str] | None = None,
    bbox: BBox | None = None,
) -> list[dict]:
    """Up to `k` building anchors where a new facility of `kind` would bring the most residents
    now beyond `minutes` within it (greedy maximal coverage: each pick counts only the residents
    the earlier picks left), with what each adds."""
    where, params = _scope(prefixes, bbox)
    with transaction.atomic():
        _walk_times([kind], where, params)
        walknet.load_points(
            _SOURCES,
            f"""SELECT b.id AS pid, b.anchor AS geom FROM {_BUILDINGS} b
                 WHERE b.id IN (SELECT h.building_id FROM {_HOUSEHOLD_POINTS} WHERE {where})""",
            {**params, "access": access_m()},
        )
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
        anchors = dict(
            Building.objects.filter(pk__in=[b for b, _ in picks]).values_list("pk", "anchor")
        )
        names = {b.pk: str(b) for b in Building.objects.filter(pk__in=[b for b, _ in picks])}
    return [
        {
            "rank": rank,
            "building_id": site,
            "name": names[site],
            "point": [anchors[site].x, anchors[site].y],
            "residents": sum(weight[p][0] for p in new),
            "households": sum(weight[p][1] for p in new),
        }
        for rank, (site, new) in enumerate(picks, start=1)
    ]


# --- the isochrone layer ------------------------------------------------------------------------

_ISOCHRONES = f"""
    SELECT c.id, c.geom, c.facility_id, f.name AS facility_name, f.kind, c.minutes, c.method,
           c.speed_mps, c.computed_at
      FROM {_CIRCLES} c
      JOIN {Facility._meta.db_table} f ON f.id = c.facility_id
     WHERE f.kind = %(kind)s AND c.minutes = %(minutes)s {{in_box}}
"""

_ISOCHRONE_PROPERTIES = """json_build_object(
    'facility_id', hit.facility_id, 'facility_name', hit.facility_name, 'kind', hit.kind,
    'minutes', hit.minutes, 'method', hit.method, 'speed_mps', hit.speed_mps,
    'computed_at', hit.computed_at)"""


def isochrones_geojson(kind: str, minutes: int, bbox: BBox | None = None) -> str:
    """The stored service circles of `kind` for one threshold, as a GeoJSON FeatureCollection."""
    params: dict = {"kind": kind, "minutes": minutes}
    in_box = ""
    if bbox is not None:
        in_box = f"AND c.geom && {ENVELOPE}"
        params.update(box_params(bbox))
    rows = _ISOCHRONES.format(in_box=in_box)
    return collection(rows, _ISOCHRONE_PROPERTIES, "facility_id", params, with_id=True)
