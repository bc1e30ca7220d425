"""Vector tiles (矢量瓦片) of the published layers: Mapbox Vector Tiles made by PostGIS at
/tiles/{layer}/{z}/{x}/{y}.pbf and each layer's TileJSON at /tiles/{layer}.json. A tile holds the
catalogue's rows and columns and nothing else, so it carries no more than the export does."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from urllib.parse import urlencode

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.cache import (
    get_conditional_response,
    patch_cache_control,
    patch_vary_headers,
    set_response_etag,
)
from django.views.decorators.http import require_GET

from layers.exchange import query
from layers.exchange.access import Denied, Reader, authorize
from layers.exchange.catalogue import Layer, Property
from layers.exchange.query import BBox, FilterError, Filters
from layers.exchange.views import error, layer_or_error

MAX_ZOOM = 22
EXTENT = 4096  # tile coordinates per side, the MVT default
# Geometry kept beyond each edge, in tile coordinates: outlines and circles cut at a tile's edge
# are drawn whole by the tile beside it.
BUFFER = 64
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
# Short: a boundary edit or a new building shows within a minute without any purge.
MAX_AGE = 60
# What Web Mercator covers (EPSG:3857), in WGS84.
WORLD: BBox = (-180.0, -85.0511287798066, 180.0, 85.0511287798066)


@dataclass(frozen=True)
class TileAddress:
    z: int
    x: int
    y: int


def parse_tile(z: str, x: str, y: str) -> TileAddress:
    """z/x/y of the XYZ scheme (y down from the north), checked: z in 0–22, x and y in 0–2^z−1."""
    values = {}
    for name, raw in (("z", z), ("x", x), ("y", y)):
        if not (raw.isascii() and raw.isdigit()):
            raise FilterError(
                "invalid_tile",
                f"{name} 应为非负整数，收到 '{raw}' / {name} must be a non-negative integer",
                name,
            )
        values[name] = int(raw)
    if values["z"] > MAX_ZOOM:
        raise FilterError(
            "invalid_tile",
            f"z 应在 0–{MAX_ZOOM} 之间，收到 {z} / z must be 0–{MAX_ZOOM}",
            "z",
        )
    top = 2 ** values["z"] - 1
    for name in ("x", "y"):
        if values[name] > top:
            raise FilterError(
                "invalid_tile",
                f"z={values['z']} 时 {name} 应在 0–{top} 之间，收到 {values[name]} / {name} must be "
                f"0–{top} at z={values['z']}",
                name,
            )
    return TileAddress(**values)


def wgs84_bounds(address: TileAddress, margin: float = 0.0) -> BBox:
    """The tile's box in WGS84, grown by `margin` tile widths on every side and cut to the world.

    Computed here rather than with ST_Transform(ST_TileEnvelope(…, margin => …), 4326): PostGIS
    wraps a margin beyond ±180° to the other side, which turns the box of an edge tile into one
    round the world."""
    n = 2**address.z

    def lon(t: float) -> float:
        return min(max(t, 0.0), 1.0) * 360.0 - 180.0

    def lat(t: float) -> float:
        t = min(max(t, 0.0), 1.0)
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * t))))

    return (
        lon((address.x - margin) / n),
        lat((address.y + 1 + margin) / n),
        lon((address.x + 1 + margin) / n),
        lat((address.y - margin) / n),
    )


def _column(prop: Property) -> str:
    if prop.format == "date-time":
        # ISO 8601 as in the GeoJSON; ST_AsMVT would write the server's DateStyle.
        return f"to_json(src.{prop.name}) #>> '{{}}' AS {prop.name}"
    if prop.type == "number":
        # A numeric would become a string in the tile.
        return f"src.{prop.name}::float8 AS {prop.name}"
    return f"src.{prop.name}"


def tile_sql(layer: Layer, filters: Filters) -> tuple[str, dict]:
    """One statement for the tile: rows picked in WGS84 through the layer's GiST index, only
    those transformed to Web Mercator and clipped to the tile, the whole encoded by ST_AsMVT."""
    condition, params = query.where(layer, filters)
    columns = "".join(f", {_column(prop)}" for prop in layer.properties)
    sql = f"""
        WITH mvtgeom AS (
            SELECT ST_AsMVTGeom(ST_Transform(src.geom, 3857),
                                ST_TileEnvelope(%(tile_z)s, %(tile_x)s, %(tile_y)s),
                                {EXTENT}, {BUFFER}, true) AS geom,
                   src.id{columns}
              FROM ({layer.source}) src
             WHERE src.geom && ST_MakeEnvelope(%(tile_west)s, %(tile_south)s, %(tile_east)s,
                                               %(tile_north)s, 4326)
               AND {condition}
        )
        SELECT ST_AsMVT(mvtgeom.*, %(tile_layer)s, {EXTENT}, 'geom', 'id') FROM mvtgeom"""
    return sql, params


def tile(layer: Layer, z: int, x: int, y: int, filters: Filters | None = None) -> bytes:
    """The layer's Mapbox Vector Tile z/x/y (one MVT layer named like the layer, feature ids
    the rows' ids); empty below the layer's min_zoom or where it has no rows."""
    if z < layer.min_zoom:
        return b""
    sql, params = tile_sql(layer, filters or Filters())
    west, south, east, north = wgs84_bounds(TileAddress(z, x, y), BUFFER / EXTENT)
    params.update(
        tile_z=z,
        tile_x=x,
        tile_y=y,
        tile_west=west,
        tile_south=south,
        tile_east=east,
        tile_north=north,
        tile_layer=layer.name,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return bytes(row[0]) if row and row[0] else b""


def tiles_url(request: HttpRequest, layer: Layer, carried: dict[str, str]) -> str:
    """The absolute URL template of the layer's tiles, {z}/{x}/{y} left in as map clients take
    it, with the query parameters `carried`."""
    prefix = reverse("tile", args=[layer.name, 0, 0, 0]).removesuffix("/0/0/0.pbf")
    # The braces go on after build_absolute_uri, which would percent-encode them.
    url = request.build_absolute_uri(prefix) + "/{z}/{x}/{y}.pbf"
    return f"{url}?{urlencode(carried)}" if carried else url


def tilejson(layer: Layer, tiles_url: str) -> dict:
    """The layer's TileJSON 3.0.0; `tiles_url` is the absolute tile URL template."""
    return {
        "tilejson": "3.0.0",
        "name": layer.name,
        "description": str(layer.description),
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": layer.min_zoom,
        "maxzoom": MAX_ZOOM,
        "bounds": list(query.extent(layer) or WORLD),
        "vector_layers": [
            {
                "id": layer.name,
                "description": str(layer.title),
                "fields": {p.name: p.type for p in layer.properties},
                "minzoom": layer.min_zoom,
                "maxzoom": MAX_ZOOM,
            }
        ],
    }


# --- views --------------------------------------------------------------------------------------


def _filters(layer: Layer, request: HttpRequest) -> Filters:
    # The tile is the box: a bbox parameter has nothing to add.
    params = {k: request.GET[k] for k in ("parent", "level") if k in request.GET}
    return query.parse_filters(layer, params)


def _cache(response: HttpResponse, reader: Reader) -> None:
    # What a user or a token reads must not sit in a shared cache for someone else.
    if reader.kind == "anonymous":
        patch_cache_control(response, public=True, max_age=MAX_AGE)
    else:
        patch_cache_control(response, private=True, max_age=MAX_AGE)
    patch_vary_headers(response, ["Authorization"])


@require_GET
def tile_view(request: HttpRequest, name: str, z: str, x: str, y: str) -> HttpResponse:
    """矢量瓦片 / one vector tile; 204 when it would be empty (below min_zoom, or no rows)."""
    layer = layer_or_error(name)
    if isinstance(layer, HttpResponse):
        return layer
    try:
        reader = authorize(request, layer)
        address = parse_tile(z, x, y)
        filters = _filters(layer, request)
    except Denied as denied:
        return denied.response()
    except FilterError as err:
        return error(err.error, err.detail, err.where)
    body = tile(layer, address.z, address.x, address.y, filters)
    response = HttpResponse(body, status=200 if body else 204, content_type=MEDIA_TYPE)
    _cache(response, reader)
    if not body:
        return response  # as short as a 304 would be
    set_response_etag(response)
    return get_conditional_response(request, etag=response["ETag"], response=response)


@require_GET
def tilejson_view(request: HttpRequest, name: str) -> HttpResponse:
    """TileJSON 3.0.0 of a layer, its tile URL carrying the caller's ?token= and filters."""
    layer = layer_or_error(name)
    if isinstance(layer, HttpResponse):
        return layer
    try:
        reader = authorize(request, layer)
        filters = _filters(layer, request)
    except Denied as denied:
        return denied.response()
    except FilterError as err:
        return error(err.error, err.detail, err.where)
    carried = {"parent": filters.parent, "level": filters.level, **reader.query}
    url = tiles_url(request, layer, {k: v for k, v in carried.items() if v})
    response = HttpResponse(
        json.dumps(tilejson(layer, url), ensure_ascii=False),
        content_type="application/json; charset=utf-8",
    )
    _cache(response, reader)
    return response


def not_found(request: HttpRequest) -> HttpResponse:
    """Anything else under /tiles/ answers in the API's error shape."""
    return error(
        "not_found",
        "瓦片地址应为 /tiles/{layer}/{z}/{x}/{y}.pbf 或 /tiles/{layer}.json / tile URLs are "
        "/tiles/{layer}/{z}/{x}/{y}.pbf or /tiles/{layer}.json",
        "path",
        404,
    )
