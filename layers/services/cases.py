"""Cases read in bulk, in the database: the case list as GeoJSON and the counts per unit."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from gridmap.codes import CODE_LENGTH
from gridmap.locate import CHAIN
from gridmap.models import GridUnit
from layers.models import Incident
from layers.services import maplayers

_INCIDENTS = Incident._meta.db_table
_UNITS = GridUnit._meta.db_table
COUNT_LEVELS = ("grid", "node", "segment")


@dataclass(frozen=True)
class CaseFilter:
    """What the case list is narrowed to; None: no condition."""

    statuses: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None
    # A unit's code: the cases whose current grid lies beneath it.
    unit_codes: tuple[str, ...] = ()
    overdue: bool | None = None
    start: dt.datetime | None = None  # reported_at >= start
    end: dt.datetime | None = None  # reported_at < end
    bbox: maplayers.BBox | None = None
    level: str | None = None


def _open(alias: str) -> str:
    return f"{alias}.status <> ALL(%(finished)s)"


def _overdue(alias: str) -> str:
    return f"({_open(alias)} AND {alias}.deadline IS NOT NULL AND {alias}.deadline < %(now)s)"


def _conditions(f: CaseFilter, now: dt.datetime) -> tuple[list[str], dict]:
    params: dict = {"finished": list(Incident.FINISHED), "now": now}
    where = ["true"]
    if f.statuses is not None:
        where.append("i.status = ANY(%(statuses)s)")
        params["statuses"] = list(f.statuses)
    if f.categories is not None:
        where.append("i.category = ANY(%(categories)s)")
        params["categories"] = list(f.categories)
    for n, code in enumerate(f.unit_codes):
        # Through the grids beneath the unit, so the incidents' grid index does the rest.
        where.append(
            f"i.grid_id IN (SELECT id FROM {_UNITS} WHERE level = 'grid' "
            f"AND left(code, %(unit_len{n})s) = %(unit{n})s)"
        )
        params[f"unit{n}"], params[f"unit_len{n}"] = code, len(code)
    if f.overdue is not None:
        where.append(_overdue("i") if f.overdue else f"NOT {_overdue('i')}")
    if f.start is not None:
        where.append("i.reported_at >= %(start)s")
        params["start"] = f.start
    if f.end is not None:
        where.append("i.reported_at < %(end)s")
        params["end"] = f.end
    if f.bbox is not None:
        where.append(f"ST_Intersects(i.location, {maplayers.ENVELOPE})")
        params.update(maplayers.box_params(f.bbox))
    if f.level is not None:
        where.append("i.level = %(level)s")
        params["level"] = f.level
    return where, params


@contextmanager
def _local_time() -> Iterator[None]:
    """Timestamps that the database turns into JSON come out in the server's time zone (Asia/
    Shanghai), as the API's other datetimes do; Django keeps the session in UTC otherwise."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('TimeZone', %s, true)", [settings.TIME_ZONE])
        yield
        # Transaction-local, but a test's (or a caller's) outer transaction goes on; after an
        # error the savepoint's rollback undoes the setting by itself.
        cursor.execute("SELECT set_config('TimeZone', %s, true)", [connection.timezone_name])


def _labels(choices) -> str:
    return json.dumps({value: str(label) for value, label in choices}, ensure_ascii=False)


def cases_geojson(f: CaseFilter, now: dt.datetime | None = None) -> str:
    """The cases passing `f`, newest report first, as a FeatureCollection of points."""
    where, params = _conditions(f, now or timezone.now())
    params["category_labels"] = _labels(Incident.Category.choices)
    params["status_labels"] = _labels(Incident.Status.choices)
    rows = f"""
        SELECT i.id, i.location AS geom, i.category, i.status, i.level, i.deadline,
               {_overdue("i")} AS overdue, i.department, g.code AS grid_code,
               i.reported_grid_code, i.reported_at
          FROM {_INCIDENTS} i
          LEFT JOIN {_UNITS} g ON g.id = i.grid_id
         WHERE {" AND ".join(where)}
    """
    properties = """json_build_object(
        'id', hit.id, 'category', hit.category,
        'category_label', %(category_labels)s::jsonb ->> hit.category,
        'status', hit.status, 'status_label', %(status_labels)s::jsonb ->> hit.status,
        'level', hit.level, 'deadline', hit.deadline, 'overdue', hit.overdue,
        'department', hit.department, 'grid_code', hit.grid_code,
        'reported_grid_code', NULLIF(hit.reported_grid_code, ''),
        'reported_at', hit.reported_at)"""
    with _local_time():
        # The map layers' one way of building a capped FeatureCollection in the database.
        return maplayers.collection(
            rows, properties, "reported_at DESC, id DESC", params, with_id=True
        )


def case_counts(
    by: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> dict:
    """Cases reported in [start, end) counted per unit of level `by` (by the code prefix of
    their current grid): total, open, overdue and per status; cases in no grid apart."""
    where, params = _conditions(CaseFilter(start=start, end=end), now or timezone.now())
    params["length"], params["level"] = CODE_LENGTH[by], by
    sql = f"""
        WITH per AS (
            SELECT left(g.code, %(length)s) AS code, i.status, count(*) AS n,
                   count(*) FILTER (WHERE {_overdue("i")}) AS late
              FROM {_INCIDENTS} i
              LEFT JOIN {_UNITS} g ON g.id = i.grid_id
             WHERE {" AND ".join(where)}
             GROUP BY 1, 2
        )
        SELECT u.id, per.code, u.name, sum(per.n)::int,
               COALESCE(sum(per.n) FILTER (WHERE per.status <> ALL(%(finished)s)), 0)::int,
               sum(per.late)::int, jsonb_object_agg(per.status, per.n)::text
          FROM per
          LEFT JOIN {_UNITS} u ON u.code = per.code AND u.level = %(level)s
         GROUP BY u.id, per.code, u.name
         ORDER BY per.code NULLS LAST
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    units, unassigned = [], 0
    for unit_id, code, name, total, open_, overdue, by_status in rows:
        if code is None:
            unassigned = total
            continue
        units.append(
            {
                "id": unit_id,
                "code": code,
                "name": name,
                "total": total,
                "open": open_,
                "overdue": overdue,
                "by_status": json.loads(by_status),
            }
        )
    return {"units": units, "unassigned": unassigned}


def unit_chain(grid_id: int | None) -> dict[str, dict | None]:
    """The grid and its node, segment and network as {id, code, name} (None where missing)."""
    chain: dict[str, dict | None] = dict.fromkeys(CHAIN)
    if grid_id is None:
        return chain
    paths = ["", "parent__", "parent__parent__", "parent__parent__parent__"]
    row = (
        GridUnit.objects.filter(pk=grid_id)
        .values(*(f"{p}{f}" for p in paths for f in ("id", "code", "name", "level")))
        .first()
    )
    for p in paths:
        if row and row[f"{p}id"] is not None:
            chain[row[f"{p}level"]] = {
                "id": row[f"{p}id"],
                "code": row[f"{p}code"],
                "name": row[f"{p}name"],
            }
    return chain
