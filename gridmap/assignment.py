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


# The lowest-code covering grid; the subquery runs once per row through the GiST index.
_PICK_GRID = """
    (SELECT g.id FROM {units} g
      WHERE g.level = %(grid_level)s AND ST_Covers(g.geom, t.{anchor})
      ORDER BY g.code LIMIT 1)
"""


def _run(sql: str, params: dict) -> tuple[int, int, int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assigned, unassigned, changed = cursor.fetchone()
    return assigned, unassigned, changed


def _update_and_count(
    model: type[GridAssigned], pick_sql: str, params: dict
) -> tuple[int, int, int]:
    """Apply a `pick(id, grid_id)` query to the layer's table and count what it did."""
    table = connection.ops.quote_name(model._meta.db_table)
    keep_first = getattr(model, "grid_keep_first", None)
    set_clause = "grid_id = pick.grid_id"
    changed_clause = "t.grid_id IS DISTINCT FROM pick.grid_id"
    if keep_first:
        column = connection.ops.quote_name(model._meta.get_field(keep_first).column)
        set_clause += f", {column} = COALESCE(t.{column}, pick.grid_id)"
        changed_clause = f"({changed_clause} OR (t.{column} IS NULL AND pick.grid_id IS NOT NULL))"
    sql = f"""
        WITH pick AS MATERIALIZED ({pick_sql}),
        upd AS (
            UPDATE {table} t SET {set_clause}
              FROM pick
             WHERE t.id = pick.id AND {changed_clause}
            RETURNING 1
        )
        SELECT count(pick.grid_id), count(*) - count(pick.grid_id), (SELECT count(*) FROM upd)
          FROM pick
    """
    return _run(sql, params)


def _in_wgs84(area: GEOSGeometry) -> GEOSGeometry:
    """The area in EPSG:4326; an area without an SRID is taken to be in WGS84 already."""
    if not area.srid:
        area = area.clone()
        area.srid = 4326
    return area.transform(4326, clone=True)


def assign(model: type[GridAssigned], area: GEOSGeometry | None = None) -> AssignmentResult:
    """Assign one layer: every row, or only the rows whose anchor lies in `area`."""
    table = connection.ops.quote_name(model._meta.db_table)
    units = connection.ops.quote_name(GridUnit._meta.db_table)
    anchor = connection.ops.quote_name(model._meta.get_field(model.grid_anchor).column)
    params: dict = {"grid_level": GridUnit.Level.GRID}
    in_area = ""
    if area is not None:
        params["area"] = _in_wgs84(area).ewkb
        in_area = f"AND ST_Intersects(t.{anchor}, ST_GeomFromEWKB(%(area)s))"

    pick_own = f"""
        SELECT t.id, {_PICK_GRID.format(units=units, anchor=anchor)} AS grid_id
          FROM {table} t
         WHERE t.{anchor} IS NOT NULL {in_area}
    """
    assigned, unassigned, changed = _update_and_count(model, pick_own, params)

    if model.grid_follows:
        # Rows without a point of their own take the grid of the row they follow.
        fk = model._meta.get_field(model.grid_follows)
        target = fk.related_model
        target_table = connection.ops.quote_name(target._meta.db_table)
        target_anchor = connection.ops.quote_name(target._meta.get_field(target.grid_anchor).column)
        follow_area = ""
        if area is not None:
            follow_area = f"AND ST_Intersects(f.{target_anchor}, ST_GeomFromEWKB(%(area)s))"
        pick_followers = f"""
            SELECT t.id, f.grid_id
              FROM {table} t
              JOIN {target_table} f ON f.id = t.{connection.ops.quote_name(fk.column)}
             WHERE t.{anchor} IS NULL {follow_area}
        """
        more = _update_and_count(model, pick_followers, params)
        assigned, unassigned, changed = (
            a + b for a, b in zip((assigned, unassigned, changed), more, strict=True)
        )

    return AssignmentResult(layer_name(model), assigned, unassigned, changed)


def assign_all(
    area: GEOSGeometry | None = None,
    layers: Iterable[type[GridAssigned]] | None = None,
    progress: Callable[[AssignmentResult], None] | None = None,
) -> list[AssignmentResult]:
    """Assign every layer (or the given ones) in one transaction, followed layers first."""
    chosen = set(layers) if layers is not None else None
    results = []
    with transaction.atomic():
        for model in assignable_models():
            if chosen is not None and model not in chosen:
                continue
            result = assign(model, area)
            results.append(result)
            if progress:
                progress(result)
    return results
