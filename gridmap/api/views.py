"""Grid API: units as GeoJSON, and locate (point → grid chain and staff)."""

from __future__ import annotations

import math

from django.contrib.gis.geos import Point
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_gis.filters import InBBoxFilter
from rest_framework_gis.pagination import GeoJsonPagination

from gridmap import coords
from gridmap.api.errors import ApiError
from gridmap.api.filters import GridUnitFilter
from gridmap.api.serializers import (
    GridUnitSerializer,
    LocateQuerySerializer,
    LocateResultSerializer,
)
from gridmap.locate import CHAIN, locate
from gridmap.models import GridUnit


class UnitPagination(GeoJsonPagination):
    page_size = 1000
    page_size_query_param = "page_size"
    max_page_size = 5000


class BBoxFilter(InBBoxFilter):
    """`bbox=minlon,minlat,maxlon,maxlat` with a bilingual error for a malformed box."""

    bbox_param = "bbox"

    def get_filter_bbox(self, request):
        try:
            return super().get_filter_bbox(request)
        except Exception as exc:
            raise ApiError(
                "invalid_bbox",
                "bbox 应为 minlon,minlat,maxlon,maxlat 四个数 / bbox must be "
                "minlon,minlat,maxlon,maxlat",
                "bbox",
            ) from exc


class GridUnitViewSet(viewsets.ReadOnlyModelViewSet):
    """网格单元（四级）/ grid units of all four levels, as GeoJSON."""

    queryset = GridUnit.objects.select_related("parent").order_by("code")
    serializer_class = GridUnitSerializer
    filterset_class = GridUnitFilter
    filter_backends = [*viewsets.ReadOnlyModelViewSet.filter_backends, BBoxFilter]
    bbox_filter_field = "geom"
    bbox_filter_include_overlapping = True
    pagination_class = UnitPagination


def _number(request: Request, name: str) -> float:
    raw = request.query_params.get(name)
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


def parse_point(request: Request) -> coords.Conversion:
    """lon, lat and crs from the query string, converted to WGS84, or a 400 saying what is wrong."""
    lon, lat = _number(request, "lon"), _number(request, "lat")
    try:
        crs = coords.CRS.parse(request.query_params.get("crs", "wgs84"))
        return coords.to_wgs84(lon, lat, crs)
    except coords.UnknownCRS as exc:
        raise ApiError("unknown_crs", str(exc), "crs") from None
    except coords.CoordinateError as exc:
        raise ApiError("invalid_coordinates", str(exc), exc.where) from None


class LocateView(APIView):
    """定位：坐标 → 网域/网段/网节/网格及网格人员 / point → the grid chain and its staff."""

    required_permissions = ["gridmap.view_gridunit"]

    @extend_schema(
        parameters=[LocateQuerySerializer],
        responses=LocateResultSerializer,
        description=(
            "坐标（wgs84、cgcs2000、gcj02、bd09）所在的四级网格及网格人员。点位于相邻网格的公共边上时，"
            "归属编码最小的网格。 / The four-level chain and grid staff for a point given in wgs84, "
            "cgcs2000, gcj02 or bd09. A point on an edge shared by grids belongs to the lowest code."
        ),
    )
    def get(self, request: Request) -> Response:
        conversion = parse_point(request)
        location = locate(Point(conversion.lon, conversion.lat, srid=4326))
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
        return Response(body)
