"""Grid API: units as GeoJSON, and locate (point → grid chain and staff)."""

from __future__ import annotations

import datetime as dt
import math

from django.contrib.gis.geos import Point
from django.http import JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_gis.filters import InBBoxFilter
from rest_framework_gis.pagination import GeoJsonPagination

from gridmap import coords
from gridmap.api.errors import ApiError, error_body
from gridmap.api.filters import GridUnitFilter
from gridmap.api.serializers import (
    GridUnitSerializer,
    LocateQuerySerializer,
    LocateResultSerializer,
)
from gridmap.locate import CHAIN, locate, locate_at
from gridmap.models import GridUnit


class UnitPagination(GeoJsonPagination):
    page_size = 1000
    page_size_query_param = "page_size"
    max_page_size = 5000

    def paginate_queryset(self, queryset, request, view=None):
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and not (raw.isdigit() and int(raw) >= 1):
            raise ApiError(
                "invalid_page",
                f"页码应为正整数，收到 '{raw}' / page must be a positive integer, got '{raw}'",
                "page",
            )
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound:
            raise ApiError(
                "invalid_page", f"第 {raw} 页不存在 / page {raw} does not exist", "page", 404
            ) from None


class BBoxFilter(InBBoxFilter):
    """`bbox=minlon,minlat,maxlon,maxlat` with a bilingual error for a malformed box."""

    bbox_param = "bbox"

    def get_filter_bbox(self, request):
        try:
            box = super().get_filter_bbox(request)
        except Exception as exc:
            raise ApiError(
                "invalid_bbox",
                "bbox 应为 minlon,minlat,maxlon,maxlat 四个数 / bbox must be "
                "minlon,minlat,maxlon,maxlat",
                "bbox",
            ) from exc
        if box is None:
            return None
        # The extent of the polygon is normalised; a reversed box must be refused, not fixed.
        xmin, ymin, xmax, ymax = (
            float(v) for v in request.query_params[self.bbox_param].split(",")
        )
        if not (-180 <= xmin < xmax <= 180 and -90 <= ymin < ymax <= 90):
            raise ApiError(
                "invalid_bbox",
                "bbox 须满足 -180 ≤ minlon < maxlon ≤ 180 且 -90 ≤ minlat < maxlat ≤ 90 / bbox "
                "must satisfy -180 <= minlon < maxlon <= 180 and -90 <= minlat < maxlat <= 90",
                "bbox",
            )
        return box


class GridUnitViewSet(viewsets.ReadOnlyModelViewSet):
    """网格单元（四级）/ grid units of all four levels, as GeoJSON."""

    queryset = GridUnit.objects.select_related("parent").order_by("code")
    serializer_class = GridUnitSerializer
    filterset_class = GridUnitFilter
    filter_backends = [*viewsets.ReadOnlyModelViewSet.filter_backends, BBoxFilter]
    bbox_filter_field = "geom"
    bbox_filter_include_overlapping = True
    pagination_class = UnitPagination


def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """Unknown paths under /api/: a JSON 404 in the API's error shape."""
    return JsonResponse(
        error_body("not_found", f"没有这个接口 / no such endpoint: {request.path}", "path"),
        status=404,
        json_dumps_params={"ensure_ascii": False},
    )


def _number(values, name: str) -> float:
    raw = values.get(name)
    raw = None if raw is None else str(raw)
    if raw is None or raw.strip() == "":
        raise ApiError("missing_parameter", f"缺少参数 {name} / missing parameter {name}", name)
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(
            "invalid_coordinates",
            f"{name} 必须是数字，收到 '{raw}' / {name} must be a number, got '{raw}'",
            name,
        ) from None
    if not math.isfinite(value):
        raise ApiError("invalid_coordinates", f"{name} 必须是有限数 / {name} must be finite", name)
    return value


def parse_point(request: Request, values=None) -> coords.Conversion:
    """lon, lat and crs from the query string (or from `values`, e.g. a request body), converted
    to WGS84, or a 400 saying what is wrong."""
    values = request.query_params if values is None else values
    lon, lat = _number(values, "lon"), _number(values, "lat")
    try:
        crs = coords.CRS.parse(values.get("crs") or "wgs84")
        return coords.to_wgs84(lon, lat, crs)
    except coords.UnknownCRS as exc:
        raise ApiError("unknown_crs", str(exc), "crs") from None
    except coords.CoordinateError as exc:
        raise ApiError("invalid_coordinates", str(exc), exc.where) from None


def parse_at(raw: str) -> dt.datetime:
    """`at=` as an instant: a date means the end of that day, a datetime without a zone is in
    the server's time zone (Asia/Shanghai)."""
    try:
        day = parse_date(raw)
        moment = None if day else parse_datetime(raw)
    except ValueError:
        day = moment = None
    if day is not None:
        start = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
        return timezone.make_aware(start) - dt.timedelta(microseconds=1)
    if moment is not None:
        return moment if timezone.is_aware(moment) else timezone.make_aware(moment)
    raise ApiError(
        "invalid_at",
        f"at 应为日期 YYYY-MM-DD 或时间 YYYY-MM-DDTHH:MM，收到 '{raw}' / at must be a date "
        f"YYYY-MM-DD or a datetime YYYY-MM-DDTHH:MM, got '{raw}'",
        "at",
    )


class LocateView(APIView):
    """定位：坐标 → 网域/网段/网节/网格及网格人员 / point → the grid chain and its staff."""

    required_permissions = ["gridmap.view_gridunit"]

    @extend_schema(
        parameters=[LocateQuerySerializer],
        responses=LocateResultSerializer,
        description=(
            "坐标（wgs84、cgcs2000、gcj02、bd09）所在的四级网格及网格人员。点位于相邻网格的公共边上时，"
            "归属编码最小的网格。 / The four-level chain and grid staff for a point given in wgs84, "
            "cgcs2000, gcj02 or bd09. A point on an edge shared by grids belongs to the lowest code. "
            "With at= (a date: the end of that day, Asia/Shanghai; or a datetime) the units that "
            "covered the point then, from the boundary history (staff are not kept in history)."
        ),
    )
    def get(self, request: Request) -> Response:
        conversion = parse_point(request)
        point = Point(conversion.lon, conversion.lat, srid=4326)
        raw_at = request.query_params.get("at")
        at = parse_at(raw_at) if raw_at else None
        location = locate(point) if at is None else locate_at(point, at)
        body = {
            "point": [round(conversion.lon, 7), round(conversion.lat, 7)],
            "input": {
                "lon": float(request.query_params["lon"]),
                "lat": float(request.query_params["lat"]),
                "crs": conversion.crs.value,
            },
            "conversion": {
                "crs": conversion.crs.value,
                "applied": conversion.applied,
                "note": conversion.note,
            },
            **{level: location.units[level] for level in reversed(CHAIN)},
            "staff": location.staff,
            "reason": location.reason,
        }
        if at is not None:
            body["at"] = at.isoformat()
        return Response(body)
