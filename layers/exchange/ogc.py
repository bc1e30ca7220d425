"""OGC API – Features, Part 1 (Core, GeoJSON, HTML, OpenAPI 3.0) under /ogc/: the catalogue's
published layers as collections, for city platforms, GDAL's OAPIF driver and QGIS. The layers and
their SQL are in catalogue/query and access in access; this module builds the documents, their
links and the choice between JSON and HTML."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from gridmap.codes import LEVELS
from layers.exchange import catalogue
from layers.exchange.access import Denied, authorize, readable_layers
from layers.exchange.catalogue import Layer
from layers.exchange.query import (
    FilterError,
    count,
    extent,
    feature,
    parse_filters,
    select_features,
)
from layers.exchange.views import error

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    f"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{name}"
    for name in ("core", "geojson", "html", "oas30")
]
JSON = "application/json"
GEOJSON = "application/geo+json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
TYPES = {"json": JSON, "html": HTML}

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000

TITLE = "GridMap OGC API – Features"
DESCRIPTION = "网格化管理的对外发布图层 / the published layers of grid management"


@dataclass
class Problem(Exception):
    """A request this API answers with an error in the API's shape."""

    error: str
    detail: str
    where: str | None
    status: int = 400


def ogc_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """GET only; access, parameter and lookup errors answered as `{"error","detail","where"}`."""

    @require_GET
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except Denied as denied:
            return denied.response()
        except FilterError as err:
            return error(err.error, err.detail, err.where)
        except Problem as err:
            return error(err.error, err.detail, err.where, err.status)
        patch_vary_headers(response, ["Accept"])
        return response

    return wrapper


# --- requests ----------------------------------------------------------------------------------


def wanted_format(request: HttpRequest) -> str:
    """The format to answer in, "json" or "html": `?f=` wins, else the Accept header; JSON
    when neither says."""
    f = request.GET.get("f")
    if f is not None:
        if f not in TYPES:
            raise Problem(
                "invalid_format", f"f 应为 json 或 html，收到 '{f}' / f must be json or html", "f"
            )
        return f
    return "html" if request.get_preferred_type([JSON, GEOJSON, HTML]) == HTML else "json"


def check_parameters(request: HttpRequest, allowed: Iterable[str] = ()) -> None:
    """Unknown query parameters are refused (OGC API – Features /rec/core/query-param-unknown),
    so a misspelt filter does not silently return everything."""
    known = {"f", "token", *allowed}
    for name in request.GET:
        if name not in known:
            names = ", ".join(sorted(known))
            raise Problem(
                "unknown_parameter",
                f"未知参数 {name}，可用参数：{names} / unknown parameter {name}; known: {names}",
                name,
            )


def integer(request: HttpRequest, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    value = int(raw) if raw.isascii() and raw.isdigit() else None
    if value is None or value < low or (high is not None and value > high):
        upper = f"–{high}" if high is not None else " 或以上"
        upper_en = f" to {high}" if high is not None else " or more"
        raise Problem(
            f"invalid_{name}",
            f"{name} 应为 {low}{upper} 的整数，收到 '{raw}' / {name} must be an integer "
            f"from {low}{upper_en}",
            name,
        )
    return value


def catalogue_access(
    request: HttpRequest, public: bool = False
) -> tuple[list[Layer], dict[str, str]]:
    """The layers this request may read and the query its links carry on. Denied when it may
    read none; `public` pages (landing, conformance, API definition) name no data and stay open,
    but a wrong token is still refused there: the caller should know."""
    every = list(catalogue.LAYERS.values())
    try:
        layers = readable_layers(request, every)
        # readable_layers keeps no Reader: ask once more, for one readable layer (what links
        # carry) or, when there is none, for the reason.
        reader = authorize(request, (layers or every)[0], count=False)
    except Denied as denied:
        if public and denied.error != "authentication_failed":
            return [], {}
        raise
    return layers, reader.query


def database_id(raw: str) -> int | None:
    """The bigint a feature id names, or None: any other text names no feature."""
    if not (raw.isascii() and raw.isdigit()) or int(raw) >= 2**63:
        return None
    return int(raw)


def layer_named(name: str) -> Layer:
    layer = catalogue.get(name)
    if layer is None:
        raise Problem(
            "not_found",
            f"没有数据集 {name} / no collection {name}; collections: {', '.join(catalogue.LAYERS)}",
            "collectionId",
            404,
        )
    return layer


# --- links -------------------------------------------------------------------------------------


def href(request: HttpRequest, name: str, *args: Any, **query: Any) -> str:
    """An absolute link to an OGC resource; None values are left out of the query."""
    url = request.build_absolute_uri(reverse(name, args=args))
    params = urlencode({k: v for k, v in query.items() if v is not None})
    return f"{url}?{params}" if params else url


def link(url: str, rel: str, media_type: str, title: str) -> dict[str, str]:
    return {"href": url, "rel": rel, "type": media_type, "title": title}


def self_links(
    request: HttpRequest, name: str, fmt: str, *args: Any, **query: Any
) -> list[dict[str, str]]:
    """`self` in the format answered and `alternate` in the other."""
    other = "html" if fmt == "json" else "json"
    json_type = GEOJSON if name in ("ogc-items", "ogc-item") else JSON
    types = {"json": json_type, "html": HTML}
    titles = {
        "json": "本文档 JSON / this document as JSON",
        "html": "本文档 HTML / this document as HTML",
    }
    return [
        link(href(request, name, *args, **query, f=fmt), "self", types[fmt], titles[fmt]),
        link(
            href(request, name, *args, **query, f=other), "alternate", types[other], titles[other]
        ),
    ]


# --- responses ---------------------------------------------------------------------------------


def json_response(body: dict[str, Any] | str, media_type: str = JSON) -> HttpResponse:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return HttpResponse(text, content_type=media_type)


def time_stamp() -> str:
    return timezone.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def collection_document(
    request: HttpRequest, layer: Layer, query: dict[str, str], fmt: str = "json"
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": layer.name,
        "title": str(layer.title),
        "description": str(layer.description),
    }
    box = extent(layer)
    if box is not None:
        document["extent"] = {"spatial": {"bbox": [list(box)], "crs": CRS84}}
    document |= {
        "itemType": "feature",
        "crs": [CRS84],
        "links": [
            *self_links(request, "ogc-collection", fmt, layer.name, **query),
            link(
                href(request, "ogc-items", layer.name, **query, f="json"),
                "items",
                GEOJSON,
                "要素 GeoJSON / the features as GeoJSON",
            ),
            link(
                href(request, "ogc-items", layer.name, **query, f="html"),
                "items",
                HTML,
                "要素列表 / the features as HTML",
            ),
        ],
    }
    return document


# --- views -------------------------------------------------------------------------------------


@ogc_view
def landing(request: HttpRequest) -> HttpResponse:
    check_parameters(request)
    _, query = catalogue_access(request, public=True)
    fmt = wanted_format(request)
    document = {
        "title": TITLE,
        "description": DESCRIPTION,
        "links": [
            *self_links(request, "ogc-landing", fmt, **query),
            link(
                href(request, "ogc-api", **query),
                "service-desc",
                OPENAPI,
                "接口定义 OpenAPI 3.0 / the API definition",
            ),
            link(
                href(request, "ogc-conformance", **query, f="json"),
                "conformance",
                JSON,
                "符合的标准 / conformance classes",
            ),
            link(
                href(request, "ogc-collections", **query, f="json"),
                "data",
                JSON,
                "数据集 / collections",
            ),
        ],
    }
    if fmt == "html":
        urls = {
            "collections": href(request, "ogc-collections", **query, f="html"),
            "conformance": href(request, "ogc-conformance", **query, f="html"),
            "api": href(request, "ogc-api", **query),
            "json": href(request, "ogc-landing", **query, f="json"),
        }
        return render(request, "ogc/landing.html", {"doc": document, "urls": urls})
    return json_response(document)


@ogc_view
def conformance(request: HttpRequest) -> HttpResponse:
    check_parameters(request)
    _, query = catalogue_access(request, public=True)
    document = {"conformsTo": CONFORMANCE}
    if wanted_format(request) == "html":
        landing_url = href(request, "ogc-landing", **query, f="html")
        return render(
            request, "ogc/conformance.html", {"doc": document, "landing_url": landing_url}
        )
    return json_response(document)


@ogc_view
def api_definition(request: HttpRequest) -> HttpResponse:
    """The OpenAPI 3.0 document of these endpoints (JSON only: `f` is accepted and ignored)."""
    check_parameters(request)
    layers, _ = catalogue_access(request, public=True)
    return json_response(openapi(request, layers), OPENAPI)


@ogc_view
def collections(request: HttpRequest) -> HttpResponse:
    check_parameters(request)
    layers, query = catalogue_access(request)
    fmt = wanted_format(request)
    document = {
        "links": self_links(request, "ogc-collections", fmt, **query),
        "collections": [collection_document(request, layer, query, fmt) for layer in layers],
    }
    if fmt == "html":
        landing_url = href(request, "ogc-landing", **query, f="html")
        return render(
            request, "ogc/collections.html", {"doc": document, "landing_url": landing_url}
        )
    return json_response(document)


@ogc_view
def collection(request: HttpRequest, name: str) -> HttpResponse:
    layer = layer_named(name)
    reader = authorize(request, layer, count=False)
    check_parameters(request)
    fmt = wanted_format(request)
    document = collection_document(request, layer, reader.query, fmt)
    if fmt == "html":
        context = {
            "doc": document,
            "layer": layer,
            "items_url": href(request, "ogc-items", name, **reader.query, f="html"),
            "collections_url": href(request, "ogc-collections", **reader.query, f="html"),
        }
        return render(request, "ogc/collection.html", context)
    return json_response(document)


@ogc_view
def items(request: HttpRequest, name: str) -> HttpResponse:
    layer = layer_named(name)
    reader = authorize(request, layer)
    check_parameters(request, ("bbox", "limit", "offset", *layer.filters))
    filters = parse_filters(layer, request.GET)
    limit = integer(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = integer(request, "offset", 0, 0, None)
    fmt = wanted_format(request)

    sql, params = select_features(layer, filters, limit, offset)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        features = [row[0] for row in cursor.fetchall()]
    returned = len(features)
    # A page that is not full (and not past the end) ends the result: no count query needed.
    if returned < limit and (returned or not offset):
        matched = offset + returned
    else:
        matched = count(layer, filters)

    # What every link of this result carries: the client's filters (already checked), its token.
    query = {k: request.GET[k] for k in ("bbox", *layer.filters) if request.GET.get(k)}
    query |= reader.query

    def page(at: int, rel: str, title: str) -> dict[str, str]:
        url = href(request, "ogc-items", name, **query, limit=limit, offset=at or None, f=fmt)
        return link(url, rel, GEOJSON if fmt == "json" else HTML, title)

    links = [
        *self_links(request, "ogc-items", fmt, name, **query, limit=limit, offset=offset or None),
        link(
            href(request, "ogc-collection", name, **reader.query, f="json"),
            "collection",
            JSON,
            "数据集 / the collection",
        ),
    ]
    if offset + returned < matched:
        links.append(page(offset + limit, "next", "下一页 / next page"))
    if offset:
        links.append(page(max(offset - limit, 0), "prev", "上一页 / previous page"))

    if fmt == "html":
        return items_page(request, layer, features, links, matched, offset, reader.query)

    head = {
        "type": "FeatureCollection",
        "numberMatched": matched,
        "numberReturned": returned,
        "timeStamp": time_stamp(),
        "links": links,
    }
    # The features are GeoJSON text made by PostgreSQL; Python only joins them.
    body = json.dumps(head, ensure_ascii=False)[:-1] + ', "features": [' + ",\n".join(features)
    return json_response(body + "]}\n", GEOJSON)


def items_page(
    request: HttpRequest,
    layer: Layer,
    features: list[str],
    links: list[dict[str, str]],
    matched: int,
    offset: int,
    query: dict[str, str],
) -> HttpResponse:
    """A page of features as HTML: a table, a map, the pages before and after."""
    parsed = [json.loads(text) for text in features]
    rows = [
        (
            f["id"],
            href(request, "ogc-item", layer.name, f["id"], **query, f="html"),
            [f["properties"].get(name) for name in layer.property_names],
        )
        for f in parsed
    ]
    context = {
        "layer": layer,
        "rows": rows,
        "geojson": {"type": "FeatureCollection", "features": parsed},
        "matched": matched,
        "first": offset + 1,
        "last": offset + len(parsed),
        "links": {each["rel"]: each["href"] for each in links},
        "collection_url": href(request, "ogc-collection", layer.name, **query, f="html"),
    }
    return render(request, "ogc/items.html", context)


@ogc_view
def item(request: HttpRequest, name: str, feature_id: str) -> HttpResponse:
    layer = layer_named(name)
    reader = authorize(request, layer)
    check_parameters(request)
    fmt = wanted_format(request)
    text = feature(layer, pk) if (pk := database_id(feature_id)) is not None else None
    if text is None:
        raise Problem(
            "not_found",
            f"数据集 {name} 中没有要素 {feature_id} / no feature {feature_id} in {name}",
            "featureId",
            404,
        )
    links = [
        *self_links(request, "ogc-item", fmt, name, feature_id, **reader.query),
        link(
            href(request, "ogc-collection", name, **reader.query, f="json"),
            "collection",
            JSON,
            "数据集 / the collection",
        ),
    ]
    if fmt == "html":
        parsed = json.loads(text)
        context = {
            "layer": layer,
            "feature": parsed,
            "rows": [(p, parsed["properties"].get(p.name)) for p in layer.properties],
            "geojson": parsed,
            "links": links,
            "items_url": href(request, "ogc-items", name, **reader.query, f="html"),
        }
        return render(request, "ogc/item.html", context)
    # The Feature is text made by PostgreSQL (a JSON object): its links are spliced in.
    return json_response(
        text[:-1] + ', "links": ' + json.dumps(links, ensure_ascii=False) + "}", GEOJSON
    )


@ogc_view
def not_found(request: HttpRequest) -> HttpResponse:
    raise Problem(
        "not_found",
        f"没有此资源：{request.path} / no such resource",
        "path",
        404,
    )


# --- the API definition ------------------------------------------------------------------------


def _parameter(name: str, schema: dict[str, Any], description: str, **more: Any) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        **more,
    }


def _get(summary: str, parameters: list[dict], media_type: str) -> dict[str, Any]:
    responses = {
        "200": {"description": "OK", "content": {media_type: {"schema": {"type": "object"}}}},
    }
    for status, text in (
        ("400", "参数错误 / invalid parameter"),
        ("401", "需要登录或令牌 / login or token required"),
        ("403", "无权读取 / may not read"),
        ("404", "不存在 / not found"),
        ("429", "请求过于频繁 / too many requests"),
    ):
        responses[status] = {
            "description": text,
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/error"}}},
        }
    return {"get": {"summary": summary, "parameters": parameters, "responses": responses}}


def openapi(request: HttpRequest, layers: list[Layer]) -> dict[str, Any]:
    """OpenAPI 3.0 for /ogc/: the generic paths, and each readable collection's items with its
    own filters (GDAL pushes attribute filters down to parameters it finds here)."""
    f = _parameter("f", {"type": "string", "enum": ["json", "html"]}, "格式 / format")
    bbox = _parameter(
        "bbox",
        {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
        "minlon,minlat,maxlon,maxlat (CRS84)",
        style="form",
        explode=False,
    )
    limit = _parameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        "每页要素数 / features per page",
    )
    offset = _parameter(
        "offset", {"type": "integer", "minimum": 0, "default": 0}, "跳过的要素数 / skipped"
    )
    filters = {
        "parent": _parameter(
            "parent",
            {"type": "string", "pattern": "^[0-9]+$"},
            "上级单元编码：其下的要素 / the features under this unit code",
        ),
        "level": _parameter("level", {"type": "string", "enum": list(LEVELS)}, "层级 / level"),
    }

    def path_id(name: str, description: str) -> dict[str, Any]:
        return {
            "name": name,
            "in": "path",
            "required": True,
            "description": description,
            "schema": {"type": "string"},
        }

    collection_id = path_id("collectionId", "数据集 / collection")
    paths = {
        "/": _get("登录页 / landing page", [f], JSON),
        "/conformance": _get("符合的标准 / conformance", [f], JSON),
        "/api": _get("本接口定义 / this document", [], OPENAPI),
        "/collections": _get("数据集 / collections", [f], JSON),
        "/collections/{collectionId}": _get("数据集 / collection", [collection_id, f], JSON),
        "/collections/{collectionId}/items": _get(
            "要素 / features", [collection_id, bbox, limit, offset, f], GEOJSON
        ),
        "/collections/{collectionId}/items/{featureId}": _get(
            "要素 / feature", [collection_id, path_id("featureId", "要素 / feature"), f], GEOJSON
        ),
    }
    for layer in layers:
        own = [filters[name] for name in layer.filters]
        paths[f"/collections/{layer.name}/items"] = _get(
            str(layer.title), [bbox, limit, offset, *own, f], GEOJSON
        )
    return {
        "openapi": "3.0.3",
        "info": {"title": TITLE, "description": DESCRIPTION, "version": "1.0.0"},
        "servers": [{"url": request.build_absolute_uri(reverse("ogc-landing")).rstrip("/")}],
        "security": [{"bearer": []}, {"token": []}, {}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "token": {"type": "apiKey", "in": "query", "name": "token"},
            },
            "schemas": {
                "error": {
                    "type": "object",
                    "required": ["error", "detail"],
                    "properties": {
                        "error": {"type": "string"},
                        "detail": {"type": "string"},
                        "where": {"type": "string", "nullable": True},
                    },
                }
            },
        },
    }
