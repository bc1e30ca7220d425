"""Export endpoints: GET /api/export/{layer}.geojson (streamed) and .gpkg, .shp.zip, .csv files.
Thin: the layers and their SQL are in catalogue/query, the writing in export, access in access."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

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


@require_GET
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
