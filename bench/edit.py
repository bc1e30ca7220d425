"""The edit benchmark: preview and commit of a reshape that moves 1 % of a community's
households, each as a ratio to the bare reassignment SQL for the area that changes.

Imported by bench/run.py (`--only edit`) after Django is set up; see docs/benchmarks.md.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import shapely
from django.db import connection, transaction
from django.db.models import Count
from shapely.geometry.base import BaseGeometry

from gridmap import editing
from gridmap.assignment import assign_all, assignable_models
from gridmap.geometry import area_m2, polygonal, to_geos, to_shapely
from gridmap.models import GridUnit
from layers.models import Household

# The bare reassignment of one layer inside the area: what any implementation has to run.
BARE_LAYER = """
    UPDATE {table} t SET grid_id = g.id
      FROM gridmap_gridunit g
     WHERE g.level = 'grid' AND ST_Covers(g.geom, t.{anchor})
       AND ST_Intersects(t.{anchor}, ST_GeomFromEWKB(%s))
"""
HOUSEHOLDS_IN = """
    SELECT count(*) FROM layers_household
     WHERE grid_id = %s AND ST_Intersects(location, ST_GeomFromEWKB(%s))
"""


@dataclass(frozen=True)
class Reshape:
    """A grid that takes a strip along its shared edge from a neighbour in the same node."""

    node: GridUnit
    node_households: int
    grid: GridUnit
    neighbour: GridUnit
    strip: BaseGeometry
    households: int  # in the strip, i.e. the ones the edit moves
    geometry: BaseGeometry  # the grid's new boundary, as a map page would send it
    neighbour_geometry: BaseGeometry  # what the neighbour keeps


def _households_in(grid_id: int, area: BaseGeometry) -> int:
    with connection.cursor() as cursor:
        cursor.execute(HOUSEHOLDS_IN, [grid_id, to_geos(area).ewkb])
        return cursor.fetchone()[0]


def _strip(grid: BaseGeometry, neighbour: BaseGeometry, width: float) -> BaseGeometry:
    """The part of `neighbour` within `width` degrees of `grid`: the shared edge moved out."""
    return polygonal(neighbour.intersection(grid.buffer(width, quad_segs=2)), 1.0)


def pick_reshape(share: float = 0.01) -> Reshape:
    """The middle node by code, and the grid pair in it sharing the longest edge whose
    neighbour holds enough households; the strip width is searched so that the strip holds
    `share` of the node's households."""
    nodes = GridUnit.objects.filter(level=GridUnit.Level.NODE).order_by("code")
    node = nodes[nodes.count() // 2]
    grids = list(GridUnit.objects.grids_of(node).order_by("code"))
    loads = dict(
        Household.objects.filter(grid__in=grids).values_list("grid").annotate(n=Count("id"))
    )
    node_households = sum(loads.values())
    wanted = round(share * node_households)
    shapes = {g.pk: to_shapely(g.geom) for g in grids}
    # Length of a's boundary along b, in degrees (how the edit service measures a shared edge).
    pairs = [
        (shapes[a.pk].boundary.intersection(shapes[b.pk].buffer(1e-8)).length, a, b)
        for a in grids
        for b in grids
        if a.pk != b.pk
        and loads.get(b.pk, 0) >= 1.5 * wanted
        and shapes[a.pk].intersects(shapes[b.pk])
    ]
    _, grid, neighbour = max(pairs, key=lambda p: (p[0], p[1].code, p[2].code))
    a, b = shapes[grid.pk], shapes[neighbour.pk]
    # Bisect the width on the count of households in the strip (monotonic in the width).
    low, high = 0.0, max(b.bounds[2] - b.bounds[0], b.bounds[3] - b.bounds[1])
    best = None
    for _ in range(40):
        width = (low + high) / 2
        strip = _strip(a, b, width)
        n = _households_in(neighbour.pk, strip)
        if best is None or abs(n - wanted) < abs(best[1] - wanted):
            best = (strip, n)
        if n == wanted:
            break
        low, high = (width, high) if n < wanted else (low, width)
    strip, n = best
    return Reshape(
        node,
        node_households,
        grid,
        neighbour,
        strip,
        n,
        shapely.union(a, strip),
        b.difference(strip),
    )


def _write_new_geometries(reshape: Reshape) -> None:
    GridUnit.objects.filter(pk=reshape.grid.pk).update(geom=to_geos(reshape.geometry))
    GridUnit.objects.filter(pk=reshape.neighbour.pk).update(
        geom=to_geos(reshape.neighbour_geometry)
    )


def _bare_reassignment(reshape: Reshape) -> tuple[float, float, int]:
    """In a transaction rolled back afterwards: write the two new grid geometries (timed
    apart), then run the bare reassignment UPDATE of every layer over the strip (timed).
    Returns (reassignment s, geometry writes s, rows written)."""
    area = to_geos(reshape.strip).ewkb
    statements = [
        BARE_LAYER.format(
            table=connection.ops.quote_name(m._meta.db_table),
            anchor=connection.ops.quote_name(m._meta.get_field(m.grid_anchor).column),
        )
        for m in assignable_models()
    ]
    with transaction.atomic():
        started = time.perf_counter()
        _write_new_geometries(reshape)
        geometry_s = time.perf_counter() - started
        rows = 0
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql, [area])
                rows += cursor.rowcount
        reassign_s = time.perf_counter() - started
        transaction.set_rollback(True)
    return reassign_s, geometry_s, rows


def _service_reassignment(reshape: Reshape) -> float:
    """`assign_all(area=strip)` with the new geometries in place, rolled back: what the edit
    service runs for the reassignment (lowest-code rule, move report, follower pass)."""
    with transaction.atomic():
        _write_new_geometries(reshape)
        started = time.perf_counter()
        assign_all(area=to_geos(reshape.strip), report=True)
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed


def _preview(reshape: Reshape) -> tuple[float, editing.EditResult]:
    started = time.perf_counter()
    result = editing.reshape(reshape.grid.pk, reshape.grid.version, reshape.geometry, preview=True)
    return time.perf_counter() - started, result


def _commit(reshape: Reshape) -> tuple[float, editing.EditResult]:
    """The committing path, inside an outer transaction that is rolled back afterwards, so
    every repetition starts from the same city (the final COMMIT itself is not timed)."""
    with transaction.atomic():
        started = time.perf_counter()
        result = editing.reshape(reshape.grid.pk, reshape.grid.version, reshape.geometry)
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed, result


def _sql_seconds(fn: Callable[[], object]) -> tuple[float, int]:
    """Time spent inside database calls while `fn` runs, and how many there were."""
    spent = [0.0, 0]

    def wrapper(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent[0] += time.perf_counter() - started
            spent[1] += 1

    with connection.execute_wrapper(wrapper):
        fn()
    return spent[0], spent[1]


def _stats(runs: list[float]) -> dict:
    return {"median_s": statistics.median(runs), "min_s": min(runs), "runs_s": runs}


def bench_edit(repeat: int, share: float = 0.01) -> dict:
    reshape = pick_reshape(share)
    print(
        f"edit: grid {reshape.grid.code} takes a strip of {reshape.households} households from "
        f"{reshape.neighbour.code} (node {reshape.node.code}, {reshape.node_households} households)"
    )
    # Warm the caches (pages, plans, GEOS preparation) once on every path.
    _bare_reassignment(reshape)
    _service_reassignment(reshape)
    _preview(reshape)
    _commit(reshape)

    bare, geometry, service, preview, commit = [], [], [], [], []
    rows = moved = units = None
    for _ in range(repeat):
        # Interleaved, so drift on a shared machine hits every path alike.
        bare_s, geometry_s, rows = _bare_reassignment(reshape)
        bare.append(bare_s)
        geometry.append(geometry_s)
        service.append(_service_reassignment(reshape))
        preview_s, result = _preview(reshape)
        preview.append(preview_s)
        commit_s, committed = _commit(reshape)
        commit.append(commit_s)
        moved = committed.reassignment["household"]["moved"]
        units = len(committed.units)
        assert result.reassignment == committed.reassignment, "preview and commit disagree"

    share_moved = moved / reshape.node_households
    assert abs(share_moved - share) <= 0.2 * share, f"moved {moved} households ({share_moved:.2%})"
    # The previews once more with every database call timed: the rest is Python.
    in_sql = [_sql_seconds(lambda: _preview(reshape)) for _ in range(repeat)]
    base = statistics.median(bare)
    return {
        "node": reshape.node.code,
        "node_households": reshape.node_households,
        "grid": reshape.grid.code,
        "neighbour": reshape.neighbour.code,
        "strip_m2": round(area_m2(reshape.strip), 1),
        "households_moved": moved,
        "share_moved": share_moved,
        "rows_bare": rows,
        "units_changed": units,
        "bare": _stats(bare),
        "bare_geometry_writes": _stats(geometry),
        "service_reassignment": _stats(service),
        "preview": _stats(preview),
        "commit": _stats(commit),
        "preview_ratio": statistics.median(preview) / base,
        "commit_ratio": statistics.median(commit) / base,
        "preview_sql_s": statistics.median(s for s, _ in in_sql),
        "preview_queries": in_sql[0][1],
    }
