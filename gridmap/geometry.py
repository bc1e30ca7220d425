"""Geometry in and out of the grid: GeoJSON parsing, the one validity check, areas in m².

Edits compute in shapely (GEOS, the same engine PostGIS uses) on the few polygons they touch;
the database stores GeoDjango geometries. Areas are geodesic, on the WGS84 ellipsoid.
"""

from __future__ import annotations

import math
import re
from typing import Any

import shapely
from django.contrib.gis.geos import GEOSGeometry
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

_GEOD = Geod(ellps="WGS84")
_LOCATION = re.compile(r"\[\s*(-?[0-9.eE+-]+)\s+(-?[0-9.eE+-]+)\s*\]")


class GeometryError(ValueError):
    """Input geometry that cannot be used: `code`, a bilingual `detail`, and `where`."""

    def __init__(self, code: str, detail: str, where: Any = None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.where = where


def point_where(geom: BaseGeometry, **extra: Any) -> dict[str, Any]:
    """A location for an error: a point inside `geom` (lon, lat) plus what else is known."""
    p = geom.representative_point() if not geom.is_empty else None
    return {"point": [round(p.x, 7), round(p.y, 7)] if p is not None else None, **extra}


def from_geojson(value: Any, field: str, kinds: tuple[str, ...]) -> BaseGeometry:
    """A GeoJSON geometry of one of `kinds` in WGS84, checked, as shapely; else GeometryError."""
    if not isinstance(value, dict) or "type" not in value or "coordinates" not in value:
        raise GeometryError(
            "invalid_request",
            f"{field} 应为 GeoJSON 几何对象 / {field} must be a GeoJSON geometry object",
            field,
        )
    if value["type"] not in kinds:
        raise GeometryError(
            "invalid_request",
            f"{field} 的类型应为 {'/'.join(kinds)}，收到 {value['type']} / {field} must be a "
            f"{' or '.join(kinds)}, got {value['type']}",
            field,
        )
    try:
        geom = shape(value)
        coords = shapely.get_coordinates(geom)
    except Exception as exc:
        raise GeometryError(
            "invalid_request",
            f"{field} 的坐标格式错误 / malformed coordinates in {field}: {exc}",
            field,
        ) from None
    if geom.is_empty:
        raise GeometryError("invalid_request", f"{field} 为空 / {field} is empty", field)
    for lon, lat in coords:
        if not (
            math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90
        ):
            raise GeometryError(
                "invalid_coordinates",
                f"{field} 含有超出经纬度范围的坐标 ({lon}, {lat})；应为 WGS84 经度、纬度 / {field} "
                f"has a coordinate out of range ({lon}, {lat}); expected WGS84 lon, lat",
                {"field": field, "point": [lon, lat]},
            )
    if isinstance(geom, Polygon | MultiPolygon):
        check_valid(geom, field)
    return geom


def check_valid(geom: BaseGeometry, field: str = "geometry") -> None:
    """Raise GeometryError naming the reason and the place when `geom` is not valid."""
    if geom.is_valid:
        return
    reason = shapely.is_valid_reason(geom)
    found = _LOCATION.search(reason)
    where: dict[str, Any] = {"field": field, "reason": reason}
    if found:
        where["point"] = [float(found.group(1)), float(found.group(2))]
    raise GeometryError(
        "invalid_geometry",
        f"{field} 几何无效：{reason} / {field} is not a valid geometry: {reason}",
        where,
    )


def area_m2(geom: BaseGeometry | None) -> float:
    """Geodesic area in square metres of a polygonal geometry in WGS84."""
    if geom is None or geom.is_empty:
        return 0.0
    # pyproj sums signed ring areas: a hole wound like its shell would be added, not taken off.
    return abs(_GEOD.geometry_area_perimeter(shapely.orient_polygons(geom))[0])


def polygonal(geom: BaseGeometry, min_part_m2: float = 0.0) -> MultiPolygon:
    """The polygons of an overlay result as a MultiPolygon, without parts of `min_part_m2` or
    less (an overlay of touching polygons also returns the lines and points where they meet)."""
    parts = [
        g
        for g in shapely.get_parts(geom)
        if isinstance(g, Polygon) and not g.is_empty and area_m2(g) > min_part_m2
    ]
    nested = [p for g in shapely.get_parts(geom) if isinstance(g, MultiPolygon) for p in g.geoms]
    parts += [p for p in nested if area_m2(p) > min_part_m2]
    return MultiPolygon(parts)


def to_shapely(geom: GEOSGeometry) -> BaseGeometry:
    return shapely.from_wkb(bytes(geom.wkb))


def to_geos(geom: BaseGeometry) -> GEOSGeometry:
    """A shapely polygonal geometry as a GeoDjango MultiPolygon in EPSG:4326."""
    if isinstance(geom, Polygon):
        geom = MultiPolygon([geom])
    return GEOSGeometry(memoryview(shapely.to_wkb(geom)), srid=4326)


def to_geojson(geom: BaseGeometry | None) -> dict | None:
    if geom is None:
        return None
    if isinstance(geom, Polygon):
        geom = MultiPolygon([geom])
    return shapely.geometry.mapping(geom)
