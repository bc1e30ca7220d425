"""The assignment service: which grid each row of each layer lies in, stored and kept right.

Every concrete subclass of `GridAssigned` is assigned set-based in one SQL statement per layer,
using the GiST indexes, in bulk or only for the rows inside a given area (so a boundary edit can
reassign what it touched in its own transaction).

Boundary rule: ST_Covers counts the boundary as inside, so a point on an edge or vertex shared
by several grids is covered by all of them; it goes to the one with the LOWEST CODE. The rule is
deterministic, independent of row order, and the same one `GridUnit.objects.covering` and the
locate API use. A point in no grid gets grid NULL and is counted as unassigned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.apps import apps
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection, transaction

from gridmap.models import GridAssigned, GridUnit


@dataclass(frozen=True)
class AssignmentResult:
    """What one assignment run did to one layer (counts over the rows it looked at)."""

    layer: str
    assigned: int
    unassigned: int
    changed: int
    # With `report=True`: (old grid id, new grid id, rows) for the rows that changed grid and
    # pass the layer's `grid_report_filter`.
    moves: tuple[tuple[int | None, int | None, int], ...] = ()

    @property
    def total(self) -> int:
        return self.assigned + self.unassigned


def assignable_models() -> list[type[GridAssigned]]:
    """All concrete layers, each after the layer it follows (buildings before households)."""
    found = [m for m in apps.get_models() if issubclass(m, GridAssigned)]
    ordered: list[type[GridAssigned]] = []

    def visit(model: type[GridAssigned]) -> None:
        if model in ordered:
            return
        if model.grid_follows:
            visit(model._meta.get_field(model.grid_follows).related_model)
        ordered.append(model)

    for model in sorted(found, key=lambda m: m._meta.label):
        visit(model)
    return ordered


def layer_name(model: type[GridAssigned]) -> str:
    return model._meta.model_name


def get_layer(name: str) -> type[GridAssigned]:
    for model in assignable_models():
        if layer_name(model) == name:
            return model
    names = ", ".join(layer_name(m) for m in assignable_models())
    raise LookupError(
        f"未知图层 '{name}'，可用：{names} / unknown layer '{name}'; use one of: {names}"
    )


def _in_wgs84(area: GEOSGeometry) -> GEOSGeometry:
    """The area in EPSG:4326; an area without an SRID is taken to be in WGS84 already."""
    if not area.srid:
        area = area.clone()
        area.srid = 4326
    return area.transform(4326, clone=True)


def _apply(
    model: type[GridAssigned],
    pick: str,
    scope: str,
    params: dict,
    report: bool = False,
    bulk: bool = False,
) -> tuple[int, int, int, list]:
    """Set each row in `scope` to the grid `pick(id, grid_id, old_grid_id)` gives it, NULL if
    none; with `report`, also count the moves by (old grid, new grid).

    One statement: the assigned and cleared rows are written by two data-modifying CTEs over
    disjoint rows, and rows whose grid does not change are not written at all.
    """
    q = connection.ops.quote_name
    table = q(model._meta.db_table)
    set_clause = "grid_id = pick.grid_id"
    changed = "t.grid_id IS DISTINCT FROM pick.grid_id"
    counted = f"({model.grid_report_filter})" if model.grid_report_filter else "true"
    moves = (
        """(SELECT json_agg(json_build_array(old, new, n)) FROM (
               SELECT old, new, count(*) AS n
                 FROM (SELECT * FROM upd UNION ALL SELECT * FROM clr) m
                WHERE counted AND old IS DISTINCT FROM new
                GROUP BY old, new) x)"""
        if report
        else "NULL"
    )
    if model.grid_keep_first:
        keep = q(model._meta.get_field(model.grid_keep_first).column)
        set_clause += f", {keep} = COALESCE(t.{keep}, pick.grid_id)"
        changed = f"({changed} OR t.{keep} IS NULL)"
    sql = f"""
        WITH pick AS MATERIALIZED ({pick}),
        upd AS (
            UPDATE {table} t SET {set_clause}
              FROM pick
             WHERE t.id = pick.id AND {changed}
            RETURNING pick.old_grid_id AS old, pick.grid_id AS new, {counted} AS counted
        ),
        clr AS (
            -- The self-join reads the row as it was, so the old grid can be returned.
            UPDATE {table} t SET grid_id = NULL
              FROM {table} was
             WHERE was.id = t.id AND t.grid_id IS NOT NULL AND {scope}
               AND NOT EXISTS (SELECT 1 FROM pick WHERE pick.id = t.id)
            RETURNING was.grid_id AS old, NULL::bigint AS new, {counted} AS counted
        )
        SELECT (SELECT count(*) FROM pick),
               (SELECT count(*) FROM {table} t WHERE {scope}) - (SELECT count(*) FROM pick),
               (SELECT count(*) FROM upd) + (SELECT count(*) FROM clr),
               {moves}
    """
    with connection.cursor() as cursor:
        if bulk:
            # The pick is sorted and hashed in memory; the default work_mem spills 1M rows.
            cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute(sql, params)
        assigned, unassigned, changed_rows, moved = cursor.fetchone()
        return assigned, unassigned, changed_rows, moved or []


def assign(
    model: type[GridAssigned],
    area: GEOSGeometry | None = None,
    ids: Iterable[int] | None = None,
    report: bool = False,
) -> AssignmentResult:
    """Assign one layer: every row, only the rows whose anchor lies in `area`, or only `ids`.

    With `report`, the result also says which rows moved from which grid to which.
    """
    q = connection.ops.quote_name
    table = q(model._meta.db_table)
    units = q(GridUnit._meta.db_table)
    anchor = q(model._meta.get_field(model.grid_anchor).column)
    params: dict = {"grid_level": GridUnit.Level.GRID}
    own_filter = ""
    if area is not None:
        params["area"] = _in_wgs84(area).ewkb
        own_filter += f" AND ST_Intersects(t.{anchor}, ST_GeomFromEWKB(%(area)s))"
    if ids is not None:
        params["ids"] = list(ids)
        own_filter += " AND t.id = ANY(%(ids)s)"

    # Grids outside, points inside the loop: each grid's polygon is prepared once and tested
    # against the points its index probe returns, many times faster than one probe per point.
    # A point covered by several grids (a shared edge or vertex) keeps the lowest code.
    pick_own = f"""
        SELECT DISTINCT ON (t.id) t.id, g.id AS grid_id, t.grid_id AS old_grid_id
          FROM {units} g
          JOIN {table} t ON ST_Covers(g.geom, t.{anchor})
         WHERE g.level = %(grid_level)s {own_filter}
         ORDER BY t.id, g.code
    """
    scope_own = f"t.{anchor} IS NOT NULL {own_filter}"
    # No savepoint: a failure fails the caller's transaction anyway, and an edit runs this for
    # every layer (two round trips each).
    with transaction.atomic(savepoint=False):
        bulk = area is None and ids is None
        *counts, moves = _apply(model, pick_own, scope_own, params, report, bulk)

        if model.grid_follows:
            # Rows without a point of their own take the grid of the row they follow.
            fk = model._meta.get_field(model.grid_follows)
            target = fk.related_model
            target_anchor = q(target._meta.get_field(target.grid_anchor).column)
            follow_filter = " AND t.id = ANY(%(ids)s)" if ids is not None else ""
            follow_scope = f"t.{anchor} IS NULL {follow_filter}"
            if area is not None:
                # Driven from the buildings in the area through the foreign-key index: a test on
                # the follower's own empty point would scan the whole table.
                in_area = (
                    f"t.{q(fk.column)} IN (SELECT f.id FROM {q(target._meta.db_table)} f"
                    f" WHERE ST_Intersects(f.{target_anchor}, ST_GeomFromEWKB(%(area)s)))"
                )
                follow_filter += f" AND {in_area}"
                follow_scope += f" AND {in_area}"
            pick_followers = f"""
                SELECT t.id, f.grid_id, t.grid_id AS old_grid_id
                  FROM {table} t
                  JOIN {q(target._meta.db_table)} f ON f.id = t.{q(fk.column)}
                 WHERE t.{anchor} IS NULL AND f.grid_id IS NOT NULL {follow_filter}
            """
            *more, more_moves = _apply(model, pick_followers, follow_scope, params, report, bulk)
            counts = [a + b for a, b in zip(counts, more, strict=True)]
            moves = _merge_moves(moves, more_moves)

        if bulk:
            # A bulk run rewrites the grid column of the whole table; with the old statistics
            # the next incremental run planned a scan of the grid index (60× slower).
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {table}")

    assigned, unassigned, changed = counts
    return AssignmentResult(
        layer_name(model), assigned, unassigned, changed, tuple(tuple(m) for m in moves)
    )


def _merge_moves(a: list, b: list) -> list:
    """Two move lists [old, new, n] summed by (old, new)."""
    total: dict[tuple, int] = {}
    for old, new, n in [*a, *b]:
        total[old, new] = total.get((old, new), 0) + n
    return [[old, new, n] for (old, new), n in total.items()]


def assign_saved(obj: GridAssigned) -> None:
    """Assign one saved row, and the rows that follow it, and refresh its grid fields."""
    model = type(obj)
    assign(model, ids=[obj.pk])
    for follower in assignable_models():
        if (
            follower.grid_follows
            and follower._meta.get_field(follower.grid_follows).related_model is model
        ):
            column = follower._meta.get_field(follower.grid_follows).attname
            ids = follower.objects.filter(**{column: obj.pk}).values_list("pk", flat=True)
            assign(follower, ids=list(ids))
    fields = ["grid"] + ([model.grid_keep_first] if model.grid_keep_first else [])
    obj.refresh_from_db(fields=fields)


def assign_all(
    area: GEOSGeometry | None = None,
    layers: Iterable[type[GridAssigned]] | None = None,
    progress: Callable[[AssignmentResult], None] | None = None,
    report: bool = False,
) -> list[AssignmentResult]:
    """Assign every layer (or the given ones) in one transaction, followed layers first."""
    chosen = set(layers) if layers is not None else None
    results = []
    with transaction.atomic(savepoint=False):
        for model in assignable_models():
            if chosen is not None and model not in chosen:
                continue
            result = assign(model, area, report=report)
            results.append(result)
            if progress:
                progress(result)
    return results
