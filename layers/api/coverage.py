"""Coverage API: 15-minute service circles, coverage per unit, holes and siting. Thin: the
analysis is layers.coverage; no personal data (households are counted, or shown per building)."""

from __future__ import annotations

import math

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
from layers import coverage, visits
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


def _unit(request: Request) -> GridUnit | None:
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
    return unit


def _unit_ids(request: Request) -> list[int] | None:
    unit = _unit(request)
    return None if unit is None else [unit.pk]


def _unit_or_bbox(request: Request) -> tuple[list[int] | None, tuple | None]:
    units, bbox = _unit_ids(request), parse_bbox(request)
    if units is None and bbox is None:
        raise ApiError("missing_parameter", "需要参数 unit 或 bbox / give unit or bbox", "unit")
    return units, bbox


# At most this many candidate sites in one siting request.
MAX_CANDIDATES = 500


def _candidates(request: Request) -> list[tuple[float, float]] | None:
    """candidates=lon,lat;lon,lat… (WGS84), each checked like any point of the API."""
    raw = request.query_params.get("candidates")
    if not raw:
        return None
    points = []
    for n, part in enumerate(raw.split(";"), start=1):
        try:
            lon, lat = (float(v) for v in part.split(","))
        except ValueError:
            raise ApiError(
                "invalid_candidates",
                f"第 {n} 个候选点应为 lon,lat，收到 '{part}' / candidate {n} must be lon,lat",
                "candidates",
            ) from None
        if not (-180 <= lon <= 180 and -90 <= lat <= 90) or not (math.isfinite(lon + lat)):
            raise ApiError(
                "invalid_candidates",
                f"第 {n} 个候选点坐标越界：{part} / candidate {n} is out of range: {part}",
                "candidates",
            )
        points.append((lon, lat))
    if len(points) > MAX_CANDIDATES:
        raise ApiError(
            "invalid_candidates",
            f"候选点最多 {MAX_CANDIDATES} 个，收到 {len(points)} / at most {MAX_CANDIDATES} "
            f"candidates, got {len(points)}",
            "candidates",
        )
    return points


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
            _kind(request), _minutes(request), _unit_ids(request), parse_bbox(request)
        )
        return geojson_response(text)


class BuildingsCoverageView(APIView):
    """各建筑住户的步行时间 / per building: its households' walking time to the kind."""

    required_permissions = ["gridmap.view_gridunit"]

    @extend_schema(
        parameters=[KIND, UNIT, BBOX_OPTIONAL],
        responses={
            200: feature_collection(
                "Point",
                {
                    "building_id": {"type": "integer"},
                    "address": {"type": "string"},
                    "grid_id": {"type": "integer", "nullable": True},
                    "grid_code": {"type": "string", "nullable": True},
                    "grid_name": {"type": "string", "nullable": True},
                    "households": {"type": "integer"},
                    "residents": {"type": "integer"},
                    "minutes": {
                        "type": "number",
                        "nullable": True,
                        "description": "最远一户的步行分钟；有户超过 15 分钟为 null / the longest "
                        "walk among its households, null when one is beyond 15 minutes",
                    },
                    "within": {
                        "type": "object",
                        "description": "各阈值内的户数、人数 / households and residents within "
                        "5, 10, 15 minutes",
                    },
                },
                "按建筑（在其锚点）汇总，无个人数据 / per building at its anchor; no personal data",
            ),
            400: ERROR,
        },
    )
    def get(self, request: Request) -> HttpResponse:
        kind = _kind(request)
        units, bbox = _unit_or_bbox(request)
        return geojson_response(coverage.buildings_geojson(kind, units, bbox))


class HouseholdsCoverageView(APIView):
    """每户到各类设施的步行时间与欠缺类别 / per household: minutes to each kind, kinds lacking."""

    required_permissions = ["gridmap.view_gridunit", "layers.view_household"]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "unit", int, required=True, description="网格或社区 id / a grid or node id"
            ),
            OpenApiParameter("kind", str, enum=list(coverage.KINDS), description="默认全部"),
        ],
        responses={
            200: inline_serializer(
                "HouseholdCoverage",
                {
                    "id": serializers.IntegerField(),
                    "building_id": serializers.IntegerField(allow_null=True),
                    "grid_code": serializers.CharField(allow_null=True),
                    "minutes": serializers.DictField(
                        child=serializers.FloatField(allow_null=True),
                        help_text="各类别最近设施的步行分钟，超过 15 分钟为 null / minutes per kind",
                    ),
                    "lacking": serializers.ListField(
                        child=serializers.CharField(),
                        help_text="15 分钟内没有的类别 / kinds not within 15 minutes",
                    ),
                },
                many=True,
            ),
            400: ERROR,
        },
    )
    def get(self, request: Request) -> Response:
        unit = _unit(request)
        if unit is None:
            raise ApiError("missing_parameter", "缺少参数 unit / missing parameter unit", "unit")
        if unit.level not in ("grid", "node"):
            raise ApiError(
                "invalid_unit",
                "逐户结果只按网格或社区提供 / per-household results are given per grid or node",
                "unit",
            )
        visible = visits.grids_visible_to(request.user)
        if visible is not None:
            # Grid staff: only the households of their own grids (the row-level rule of visits).
            grids = GridUnit.objects.grids().filter(code__startswith=unit.code)
            if not set(grids.values_list("pk", flat=True)) <= visible:
                raise ApiError(
                    "not_permitted",
                    "只能查看本人网格的住户 / only the households of your own grids",
                    "unit",
                    403,
                )
        kind = _kind(request, required=False)
        kinds = [kind] if kind else list(coverage.KINDS)
        return Response(coverage.household_coverage([unit.pk], kinds))


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
            OpenApiParameter(
                "candidates",
                str,
                description="候选点 lon,lat;lon,lat…（WGS84，最多 500）；缺省为范围内建筑 / "
                "candidate sites (WGS84, at most 500); default: the buildings in scope",
            ),
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
                            "building_id": serializers.IntegerField(allow_null=True),
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
        candidates = _candidates(request)
        units, bbox = _unit_or_bbox(request)
        sites = coverage.siting(kind, minutes, int(raw), units, bbox, candidates)
        return Response({"kind": kind, "minutes": minutes, "sites": sites})
