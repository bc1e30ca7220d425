"""Export endpoints: GET /api/export/{layer}.geojson (streamed) and .gpkg, .shp.zip, .csv files.
Thin: the layers and their SQL are in catalogue/query, the writing in export, access in access."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from layers.exchange import catalogue, export
from layers.exchange.access import Denied, authorize
from layers.exchange.catalogue import Layer
from layers.exchange.query import FilterError, parse_filters


def error(code: str, detail: str, where: str | None, status: int = 400) -> HttpResponse:
    return HttpResponse(
        json.dumps({"error": code, "detail": detail, "where": where}, ensure_ascii=False),
        status=status,
        content_type="application/json; charset=utf-8",
    )


def layer_or_error(name: str) -> Layer | HttpResponse:
    layer = catalogue.get(name)
    if layer is None:
        names = ", ".join(catalogue.LAYERS)
        return error(
            "not_found", f"没有图层 {name} / no layer {name}; layers: {names}", "layer", 404
        )
    return layer


class ExportView(APIView):
    """导出图层 / export a published layer: streamed GeoJSON, GeoPackage, zipped Shapefile, CSV.

    DRF authenticates users (session or user token); whether the request may read the layer is
    decided by layers.exchange.access (platform tokens, users, anonymous layers), because a
    platform token is not a user and an anonymous layer needs no one."""

    permission_classes: list = []

    @extend_schema(
        operation_id="export_layer",
        parameters=[
            OpenApiParameter(
                "name", str, OpenApiParameter.PATH, enum=list(catalogue.LAYERS), description="图层"
            ),
            OpenApiParameter(
                "fmt",
                str,
                OpenApiParameter.PATH,
                enum=["geojson", "gpkg", "shp.zip", "csv"],
                description="格式 / format",
            ),
            OpenApiParameter("bbox", str, description="minlon,minlat,maxlon,maxlat (WGS84)"),
            OpenApiParameter("parent", str, description="上级单元编码 / under this unit code"),
            OpenApiParameter("level", str, description="单元层级（仅 units）/ units only"),
            OpenApiParameter("token", str, description="平台令牌 / platform token (or Bearer)"),
        ],
        responses={
            (200, "application/geo+json"): OpenApiResponse(
                OpenApiTypes.OBJECT, description="RFC 7946 FeatureCollection, streamed"
            ),
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="GeoPackage, zipped Shapefile or CSV"
            ),
            400: OpenApiResponse(description="bad filter"),
            401: OpenApiResponse(description="no login or token"),
            403: OpenApiResponse(description="not allowed to read this layer"),
            404: OpenApiResponse(description="no such layer"),
            429: OpenApiResponse(description="over the token's rate"),
        },
    )
    def get(self, request: Request, name: str, fmt: str) -> HttpResponse:
        return export_layer(request._request, name, fmt)


def export_layer(request: HttpRequest, name: str, fmt: str) -> HttpResponse:
    layer = layer_or_error(name)
    if isinstance(layer, HttpResponse):
        return layer
    try:
        authorize(request, layer)
        filters = parse_filters(layer, request.GET)
    except Denied as denied:
        return denied.response()
    except FilterError as err:
        return error(err.error, err.detail, err.where)
    if fmt == "geojson":
        response = StreamingHttpResponse(
            export.geojson_chunks(layer, filters), content_type="application/geo+json"
        )
        response["Content-Disposition"] = f'inline; filename="{layer.name}.geojson"'
        return response
    folder = tempfile.TemporaryDirectory(prefix="gridmap-export-")
    try:
        path = export.write_file(layer, filters, fmt, Path(folder.name))
    except BaseException:
        folder.cleanup()
        raise
    return FileResponse(
        export.TemporaryExport(path, folder),
        as_attachment=True,
        filename=path.name,
        content_type=export.FILE_FORMATS[fmt][1],
    )
