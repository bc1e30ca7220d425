"""Coverage API: 15-minute service circles, coverage per unit, holes and siting. Thin: the
analysis is layers.coverage; no personal data (households are counted, or shown per building)."""

from __future__ import annotations

from django.contrib.gis.geos import Polygon
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gridmap.api.errors import ApiError
from gridmap.models import GridUnit
from layers import coverage
from layers.api.views import (
    ERROR,
    feature_collection,
    geojson_response,
    parse_bbox,
    parse_choice,
    parse_parent,
)

MINUTES = [str(m) for m in coverage.THRESHOLDS]
UNIT_LEVELS = ("grid", "node", "segment")

KIND = OpenApiParameter("kind", str, enum=list(coverage.KINDS), description="设施类别 / kind")
MINUTES_PARAM = OpenApiParameter("minutes", int, enum=coverage.THRESHOLDS, default=15)
UNIT = OpenApiParameter("unit", int, description="只看此单元内 / only inside this unit (id)")
BBOX_OPTIONAL = OpenApiParameter("bbox", str, description="范围 / box: minlon,minlat,maxlon,maxlat")

KIND_COVERAGE = {
    "kind": serializers.CharField(),
    "households": serializers.IntegerField(),
    "residents": serializers.IntegerField(),
    **{
        f"within_{m}": serializers.DictField(
            child=serializers.FloatField(), help_text=f"{m} 分钟内的户数、人数占比"
        )
        for m in coverage.THRESHOLDS
    },
}
UNIT_COVERAGE = {
    "id": serializers.IntegerField(),
    "code": serializers.CharField(),
    "name": serializers.CharField(),
    "level": serializers.CharField(),
    "kinds": inline_serializer("KindCoverage", KIND_COVERAGE, many=True),
}


def _kind(request: Request, required: bool = True) -> str | None:
    kind = parse_choice(request, "kind", coverage.KINDS, None)
    if kind is None and required:
        raise ApiError("missing_parameter", "缺少参数 kind / missing parameter kind", "kind")
    return kind


def _minutes(request: Request) -> int:
    return int(parse_choice(request, "minutes", MINUTES, "15"))


def _unit_prefixes(request: Request) -> list[str] | None:
    raw = request.query_params.get("unit")
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit():
        raise ApiError(
            "invalid_unit", f"unit 应为单元 id，收到 '{raw}' / unit must be a unit id", "unit"
        )
    unit = GridUnit.objects.filter(pk=int(raw)).first()
    if unit is None:
        raise ApiError("not_found", f"单元 {raw} 不存在 / unit {raw} does not exist", "unit", 404)
    return [unit.code]


class IsochronesView(APIView):
    """步行等时圈（服务圈） / walking isochrones of the facilities of a kind."""

    required_permissions = ["gridmap.view_gridunit"]

    @extend_schema(
        parameters=[KIND, MINUTES_PARAM, BBOX_OPTIONAL],
        responses={
            200: feature_collection(
                "MultiPolygon",
                {
                    "facility_id": {"type": "integer"},
                    "facility_name": {"type": "string"},
                    "kind": {"type": "string"},
                    "minutes": {"type": "integer"},
                    "method": {"type": "string", "enum": ["network", "buffer"]},
                    "speed_mps": {"type": "number"},
                    "computed_at": {"type": "string"},
                },
                "每个设施一个多边形：沿路网步行可达（network）或直线缓冲（buffer） / one polygon a "
                "facility: reachable along the roads (network) or a straight-line buffer",
            ),
            400: ERROR,
        },
    )
    def get(self, request: Request) -> HttpResponse:
        text = coverage.isochrones_geojson(_kind(request), _minutes(request), parse_bbox(request))
        return geojson_response(text)


class UnitsCoverageView(APIView):
    """各单元的步行可达覆盖率 / coverage per unit: shares within 5, 10, 15 minutes' walk."""

    required_permissions = ["gridmap.view_gridunit"]

    @extend_schema(
        parameters=[
            OpenApiParameter("level", str, enum=UNIT_LEVELS, default="grid"),
            OpenApiParameter("parent", int, description="上级单元 id / parent unit id"),
            BBOX_OPTIONAL,
            OpenApiParameter("kind", str, enum=list(coverage.KINDS), description="默认全部"),
        ],
        responses={200: inline_serializer("UnitCoverage", UNIT_COVERAGE, many=True), 400: ERROR},
    )
    def get(self, request: Request) -> Response:
        level = parse_choice(request, "level", UNIT_LEVELS, "grid")
        parent = parse_parent(request, level)
        bbox = parse_bbox(request)
        if parent is None and bbox is None:
            raise ApiError(
                "missing_parameter",
                "需要参数 parent 或 bbox / give parent or bbox",
                "parent",
            )
        units = GridUnit.objects.filter(level=level)
        if parent is not None:
            units = units.filter(code__startswith=parent.code)
        if bbox is not None:
            units = units.filter(geom__intersects=Polygon.from_bbox(bbox))
        kind = _kind(request, required=False)
        kinds = [kind] if kind else list(coverage.KINDS)
        return Response(coverage.unit_coverage(list(units.order_by("code")), kinds))


class UnitCoverageView(APIView):
    """一个单元各类设施的覆盖率，以及欠缺的类别 / one unit, every kind, and what it lacks."""

    required_permissions = ["gridmap.view_gridunit"]

    @extend_schema(
        responses={
            200: inline_serializer(
                "UnitCoverageDetail",
                {
                    "unit": inline_serializer("UnitCoverageOne", UNIT_COVERAGE),
                    "lacking": serializers.ListField(
                        child=serializers.CharField(),
                        help_text="15 分钟内未能覆盖全部住户的类别，覆盖率低者在前 / kinds that do "
                        "not reach every household within 15 minutes, worst first",
                    ),
                },
            )
        }
    )
    def get(self, request: Request, pk: int) -> Response:
        unit = get_object_or_404(GridUnit, pk=pk)
        (row,) = coverage.unit_coverage([unit]) or [None]
        if row is None:
            row = {"id": unit.pk, "code": unit.code, "name": unit.name, "level": unit.level}
            row["kinds"] = []
        lacking = sorted(
            (k for k in row["kinds"] if k["households"] and k["within_15"]["households"] < 1),
            key=lambda k: k["within_15"]["households"],
        )
        return Response({"unit": row, "lacking": [k["kind"] for k in lacking]})


class HolesView(APIView):
    """覆盖空白：未被覆盖的住户（按建筑汇总）与按未覆盖人数排序的网格 / the households not reached."""

    required_permissions = ["gridmap.view_gridunit"]

    @extend_schema(
        parameters=[KIND, MINUTES_PARAM, UNIT, BBOX_OPTIONAL],
        responses={
            200: feature_collection(
                "Point",
                {
                    "building_id": {"type": "integer"},
                    "address": {"type": "string"},
                    "households": {"type": "integer"},
                    "residents": {"type": "integer"},
                },
                "按建筑汇总，另有 grids：按未覆盖人数排序的网格 / per building; plus `grids` ranked "
                "by uncovered residents",
            ),
            400: ERROR,
        },
    )
    def get(self, request: Request) -> HttpResponse:
        text = coverage.holes_geojson(
            _kind(request), _minutes(request), _unit_prefixes(request), parse_bbox(request)
        )
        return geojson_response(text)


class SitingView(APIView):
    """选址建议：贪心最大覆盖 / proposed sites for a kind (greedy maximal coverage)."""

    required_permissions = ["gridmap.view_gridunit"]

    @extend_schema(
        parameters=[
            KIND,
            MINUTES_PARAM,
            OpenApiParameter("k", int, default=3, description="最多几个 / at most k sites (1–10)"),
            UNIT,
            BBOX_OPTIONAL,
        ],
        responses={
            200: inline_serializer(
                "Siting",
                {
                    "kind": serializers.CharField(),
                    "minutes": serializers.IntegerField(),
                    "sites": inline_serializer(
                        "Site",
                        {
                            "rank": serializers.IntegerField(),
                            "building_id": serializers.IntegerField(),
                            "name": serializers.CharField(),
                            "point": serializers.ListField(child=serializers.FloatField()),
                            "residents": serializers.IntegerField(help_text="新覆盖人数"),
                            "households": serializers.IntegerField(help_text="新覆盖户数"),
                        },
                        many=True,
                    ),
                },
            ),
            400: ERROR,
        },
    )
    def get(self, request: Request) -> Response:
        kind, minutes = _kind(request), _minutes(request)
        raw = request.query_params.get("k", "3")
        if not raw.isdigit() or not 1 <= int(raw) <= 10:
            raise ApiError("invalid_k", f"k 应为 1–10，收到 '{raw}' / k must be 1–10", "k")
        prefixes, bbox = _unit_prefixes(request), parse_bbox(request)
        if prefixes is None and bbox is None:
            raise ApiError("missing_parameter", "需要参数 unit 或 bbox / give unit or bbox", "unit")
        sites = coverage.siting(kind, minutes, int(raw), prefixes, bbox)
        return Response({"kind": kind, "minutes": minutes, "sites": sites})
