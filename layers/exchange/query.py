"""SQL over a published layer's rows: filters (bbox, parent unit code, level), counts, extents,
and each row as one RFC 7946 GeoJSON Feature built in the database — the one place export,
OGC API and tiles turn catalogue rows into queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection

from gridmap.codes import LEVELS
from layers.exchange.catalogue import Layer

BBox = tuple[float, float, float, float]

# RFC 7946 §11.2: 7 decimals of a degree are about a centimetre.
DECIMALS = 7

ENVELOPE = "ST_MakeEnvelope(%(xmin)s, %(ymin)s, %(xmax)s, %(ymax)s, 4326)"


class FilterError(ValueError):
    def __init__(self, error: str, detail: str, where: str) -> None:
        super().__init__(detail)
        self.error, self.detail, self.where = error, detail, where


@dataclass(frozen=True)
class Filters:
    bbox: BBox | None = None
    level: str | None = None
    parent: str | None = None  # a unit code: rows in the units under it


def parse_bbox(raw: str | None) -> BBox | None:
    """`minlon,minlat,maxlon,maxlat` in WGS84, checked."""
    if not raw:
        return None
    parts = raw.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise FilterError(
            "invalid_bbox",
            f"bbox 应为 minlon,minlat,maxlon,maxlat，收到 '{raw}' / bbox must be "
            f"minlon,minlat,maxlon,maxlat",
            "bbox",
        )
    xmin, ymin, xmax, ymax = values
    if not (-180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90):
        raise FilterError(
            "invalid_bbox",
            f"bbox 越界或顺序颠倒：{raw} / bbox out of range or corners swapped: {raw}",
            "bbox",
        )
    return values  # type: ignore[return-value]


def parse_filters(layer: Layer, params: Any) -> Filters:
    """Filters from a query dict (`bbox`, and where the layer has them `level`, `parent`)."""
    level = params.get("level") or None
    if level is not None:
        if "level" not in layer.filters:
            raise FilterError("invalid_level", "此图层无 level 筛选 / no level filter", "level")
        if level not in LEVELS:
            raise FilterError(
                "invalid_level",
                f"level 应为 {'、'.join(LEVELS)} 之一 / level must be one of {', '.join(LEVELS)}",
                "level",
            )
    parent = params.get("parent") or None
    if parent is not None:
        if "parent" not in layer.filters:
            raise FilterError("invalid_parent", "此图层无 parent 筛选 / no parent filter", "parent")
        if not (parent.isascii() and parent.isdigit()):
            raise FilterError(
                "invalid_parent",
                f"parent 应为单元编码，收到 '{parent}' / parent must be a unit code",
                "parent",
            )
    return Filters(parse_bbox(params.get("bbox")), level, parent)


def where(layer: Layer, filters: Filters) -> tuple[str, dict[str, Any]]:
    """Condition on the layer's rows `src` and its parameters."""
    conditions, params = ["src.geom IS NOT NULL"], {}
    if filters.bbox is not None:
        conditions.append(f"src.geom && {ENVELOPE} AND ST_Intersects(src.geom, {ENVELOPE})")
        params.update(zip(("xmin", "ymin", "xmax", "ymax"), filters.bbox, strict=True))
    if filters.level is not None:
        conditions.append("src.level = %(level)s")
        params["level"] = filters.level
    if filters.parent is not None:
        # Under the parent: its children, their children… (a unit is not under itself).
        conditions.append("src.grid_code LIKE %(parent_prefix)s")
        params["parent_prefix"] = f"{filters.parent}%"
        if layer.name == "units":
            conditions.append("src.code <> %(parent)s")
            params["parent"] = filters.parent
    return " AND ".join(conditions), params


def properties_sql(layer: Layer, alias: str = "src") -> str:
    pairs = ", ".join(f"'{p.name}', {alias}.{p.name}" for p in layer.properties)
    return f"json_build_object({pairs})"


def feature_sql(layer: Layer, alias: str = "src") -> str:
    """SQL for one row as a GeoJSON Feature (text), as RFC 7946 wants it: exterior rings
    counter-clockwise and holes clockwise (the right-hand rule), 7 decimals, no `crs` member; the
    id is the row's database id (stable).
    Concatenated, not json_build_object: the geometry's GeoJSON text is spliced in as it is, not
    parsed into json and written out again (a third of an export's database time)."""
    geometry = f"ST_AsGeoJSON(ST_ForcePolygonCCW({alias}.geom), {DECIMALS})"
    return (
        f"""'{{"type": "Feature", "id": ' || {alias}.id || ', "geometry": ' || {geometry}"""
        f""" || ', "properties": ' || {properties_sql(layer, alias)}::text || '}}'"""
    )


def select_features(
    layer: Layer, filters: Filters, limit: int | None = None, offset: int = 0
) -> tuple[str, dict[str, Any]]:
    """A SELECT of the matching rows' Features as text, in id order (stable pages)."""
    condition, params = where(layer, filters)
    page = ""
    if limit is not None:
        page = "LIMIT %(limit)s OFFSET %(offset)s"
        params.update(limit=limit, offset=offset)
    sql = f"""SELECT {feature_sql(layer)}
                FROM ({layer.source}) src
               WHERE {condition}
               ORDER BY src.id {page}"""
    return sql, params


def count(layer: Layer, filters: Filters) -> int:
    condition, params = where(layer, filters)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({layer.source}) src WHERE {condition}", params)
        return cursor.fetchone()[0]


def feature(layer: Layer, pk: int) -> str | None:
    """One row's Feature as text, or None."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {feature_sql(layer)} FROM ({layer.source}) src WHERE src.id = %(pk)s",
            {"pk": pk},
        )
        row = cursor.fetchone()
    return row[0] if row else None


# Extents change only when data is loaded or edited; a few minutes stale is fine for a listing.
EXTENT_CACHE_SECONDS = 300


def extent(layer: Layer) -> BBox | None:
    """The layer's bounding box [minlon, minlat, maxlon, maxlat], or None when it is empty."""
    key = f"exchange-extent:{layer.name}"
    cached = cache.get(key)
    if cached is not None:
        return tuple(cached) if cached else None  # type: ignore[return-value]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
                  FROM (SELECT ST_Extent(src.geom) AS e FROM ({layer.source}) src) x"""
        )
        row = cursor.fetchone()
    box = None if row[0] is None else tuple(round(v, DECIMALS) for v in row)
    cache.set(key, list(box) if box else [], EXTENT_CACHE_SECONDS)
    return box  # type: ignore[return-value]
