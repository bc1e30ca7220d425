"""Service-circle benchmark (issue 6): every facility's 5/10/15-minute walking isochrones against
the bare pgr_drivingDistance calls for the same facilities, and the full coverage table (every
unit of the district × every kind), for the Karamay demo district and at city scale.

The bare side is what any isochrone tool must at least ask pgRouting: pgr_drivingDistance over
the same walking graph, from the network vertex nearest to each facility, up to the largest
reach — no joining mid-edge, no partial edges, no polygons. It is measured two ways: one call per
facility (how isochrones are usually computed, and what the issue's "calls" describes; each call
reads the graph again), and one batched call from all facilities at once (the lower bound: the
routing alone, as GridMap runs it). GridMap's side builds and stores the 5-, 10- and 15-minute
polygons. The sides run interleaved in the same process, so drift on a shared machine hits them
alike.
"""

from __future__ import annotations

import statistics
import time

from django.db import connection, transaction

from bench.db import scalar
from gridmap.models import GridUnit
from layers import coverage
from layers.models import Facility, Household
from layers.services import walknet

BARE_DRIVING_DISTANCE = f"""
    WITH start AS (
        SELECT DISTINCT near.vertex
          FROM {Facility._meta.db_table} f
         CROSS JOIN LATERAL (SELECT e.source AS vertex FROM {walknet.EDGES} e
                              ORDER BY e.geog <-> f.location::geography LIMIT 1) near
         WHERE f.id = ANY(%(ids)s)
    )
    SELECT count(*)
      FROM pgr_drivingDistance(%(edges)s, (SELECT array_agg(vertex) FROM start), %(reach)s,
                               directed := false)
"""

# One call per facility, prepared once: the graph is read by every call.
BARE_ONE_CALL = f"""
    SELECT count(*)
      FROM pgr_drivingDistance(%(edges)s,
                               (SELECT e.source FROM {walknet.EDGES} e
                                 ORDER BY e.geog <-> (SELECT location::geography
                                                        FROM {Facility._meta.db_table}
                                                       WHERE id = %(id)s) LIMIT 1),
                               %(reach)s, directed := false)
"""

# A repeatable sample of facilities, the same share of each kind: ordered by a hash of the id.
SAMPLE = f"""
    SELECT id FROM (
        SELECT f.id, row_number() OVER (PARTITION BY f.kind ORDER BY md5(f.id || ':' || %(seed)s))
                     AS k,
               count(*) OVER (PARTITION BY f.kind) AS of_kind,
               count(*) OVER () AS total
          FROM {Facility._meta.db_table} f
          JOIN {GridUnit._meta.db_table} g ON g.id = f.grid_id
         WHERE g.code LIKE %(network)s || '%%'
    ) s
     WHERE %(n)s::int IS NULL OR k <= ceil(%(n)s::numeric * of_kind / total)
     ORDER BY id
"""


def facilities_of(network: str, n: int | None, seed: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(SAMPLE, {"network": network, "n": n, "seed": seed})
        ids = [r[0] for r in cursor.fetchall()]
    return ids[:n] if n else ids


def _bare(ids: list[int]) -> float:
    started = time.perf_counter()
    scalar(
        BARE_DRIVING_DISTANCE,
        {"ids": ids, "edges": walknet.EDGES_SQL, "reach": coverage.reach_m(15)},
    )
    return time.perf_counter() - started


def _bare_calls(ids: list[int]) -> float:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for pk in ids:
            cursor.execute(
                BARE_ONE_CALL,
                {"id": pk, "edges": walknet.EDGES_SQL, "reach": coverage.reach_m(15)},
            )
            cursor.fetchone()
    return time.perf_counter() - started


def _circles(ids: list[int]) -> float:
    started = time.perf_counter()
    coverage.compute_circles(ids)
    return time.perf_counter() - started


def _table(network: GridUnit) -> tuple[float, int]:
    started = time.perf_counter()
    with transaction.atomic():
        rows = coverage.coverage_table(network)
    return time.perf_counter() - started, len(rows)


def bench_coverage(network_code: str, facilities: int | None, repeat: int, seed: int) -> dict:
    """Isochrones of `facilities` facilities of the network (all if None) and its coverage table."""
    network = GridUnit.objects.get(level="network", code=network_code)
    started = time.perf_counter()
    walknet.refresh()
    refresh_s = time.perf_counter() - started
    ids = facilities_of(network_code, facilities, seed)
    edges = scalar(f"SELECT count(*) FROM {walknet.EDGES}")
    households = Household.objects.filter(grid__code__startswith=network_code).count()
    print(
        f"coverage {network_code}: {len(ids)} facilities, {edges:,} walking edges, "
        f"{households:,} households; graph refreshed in {refresh_s:.1f} s"
    )
    _bare(ids)  # warm every path once
    _circles(ids)
    _bare_calls(ids[:10])
    bare, calls, ours = [], [], []
    for _ in range(repeat):
        bare.append(_bare(ids))
        calls.append(_bare_calls(ids))
        ours.append(_circles(ids))
        print(
            f"  isochrones {ours[-1]:.2f} s; bare pgr_drivingDistance: one call per facility "
            f"{calls[-1]:.2f} s, one batched call {bare[-1]:.2f} s"
        )
    network_share = scalar(
        f"""SELECT count(*) FILTER (WHERE method = 'network')::float / count(*)
              FROM {coverage._CIRCLES} WHERE facility_id = ANY(%(ids)s)""",
        {"ids": ids},
    )
    tables = []
    units = 0
    for _ in range(max(1, repeat // 2)):
        seconds, units = _table(network)
        tables.append(seconds)
        print(f"  coverage table: {units:,} units × {len(coverage.KINDS)} kinds in {seconds:.1f} s")
    result = {
        "network": network_code,
        "facilities": len(ids),
        "walking_edges": edges,
        "households": households,
        "network_share": round(network_share, 3),
        "graph_refresh_s": round(refresh_s, 2),
        "isochrones_s": round(statistics.median(ours), 3),
        "bare_s": round(statistics.median(bare), 3),
        "ratio": round(statistics.median(ours) / statistics.median(bare), 2),
        "bare_calls_s": round(statistics.median(calls), 3),
        "ratio_calls": round(statistics.median(ours) / statistics.median(calls), 2),
        "table_s": round(statistics.median(tables), 2),
        "table_units": units,
        "kinds": len(coverage.KINDS),
        "runs": {"isochrones_s": ours, "bare_s": bare, "bare_calls_s": calls, "table_s": tables},
    }
    return result


def print_coverage(label: str, r: dict) -> None:
    what = (
        f"{label}: 5/10/15-min isochrones of {r['facilities']} facilities "
        f"({r['walking_edges']:,} edges; {r['network_share']:.0%} along the network)"
    )
    print(
        f"| {what}, against one pgr_drivingDistance call per facility | "
        f"{r['isochrones_s']:.2f} s | {r['bare_calls_s']:.2f} s | {r['ratio_calls']:.2f}× | ≤ 1.5× |"
    )
    print(
        f"| {what}, against one batched pgr_drivingDistance call | "
        f"{r['isochrones_s']:.2f} s | {r['bare_s']:.2f} s | {r['ratio']:.2f}× | ≤ 1.5× |"
    )
    print(
        f"| {label}: coverage table, {r['table_units']:,} units × {r['kinds']} kinds, "
        f"{r['households']:,} households | {r['table_s']:.1f} s | — | — | ≤ 60 s (city) |"
    )
