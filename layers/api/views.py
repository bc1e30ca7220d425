"""Layer API views: unit summary, map layers inside a box (buildings, cameras, facilities,
households), unit load, and search."""

from __future__ import annotations

from collections.abc import Sequence

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gridmap.api.errors import ApiError
from gridmap.api.views import BBoxFilter
from gridmap.codes import LEVELS
from gridmap.models import GridUnit
from gridmap.staffing import WORKLOAD_TOLERANCE
from layers.models import Facility, Household
from layers.services import maplayers
from layers.services.load import LEVELS as LOAD_LEVELS
from layers.services.load import unit_load
from layers.services.search import search
from layers.services.summary import unit_summary


class UnitSummaryView(APIView):
    """单元统计：户数、人数、五色分布、网格工作量、社区人员配备标准 / unit summary."""

    required_permissions = ["gridmap.view_gridunit", "layers.view_building"]

    @extend_schema(
        responses=inline_serializer(
            "UnitSummary",
            {
                "unit": serializers.DictField(),
                "households": serializers.IntegerField(),
                "residents": serializers.IntegerField(),
                "households_by_color": serializers.DictField(child=serializers.IntegerField()),
                "attention": serializers.DictField(child=serializers.IntegerField()),
                "grids": serializers.ListField(child=serializers.DictField()),
                "grids_flagged": serializers.IntegerField(),
                "required_staff": serializers.IntegerField(
                    required=False, help_text="仅网节 / nodes only"
                ),
            },
        )
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(unit_summary(get_object_or_404(GridUnit, pk=pk)))


# --- request parsing ----------------------------------------------------------------------------


def parse_bbox(request: Request) -> maplayers.BBox | None:
    """`bbox` as (minlon, minlat, maxlon, maxlat), checked as on /api/units/; None if absent."""
    box = BBoxFilter().get_filter_bbox(request)
    return None if box is None else box.extent


def require_bbox(request: Request) -> maplayers.BBox:
    bbox = parse_bbox(request)
    if bbox is None:
        raise ApiError("missing_parameter", "缺少参数 bbox / missing parameter bbox", "bbox")
    return bbox


def parse_choice(
    request: Request, name: str, choices: Sequence[str], default: str | None
) -> str | None:
    """`name` from the query string, one of `choices`; `default` when absent (None: optional)."""
    value = request.query_params.get(name) or default
    if value is None:
        return None
    if value not in choices:
        allowed = "、".join(choices)
        raise ApiError(
            f"invalid_{name}",
            f"{name} 应为 {allowed} 之一，收到 '{value}' / {name} must be one of "
            f"{', '.join(choices)}, got '{value}'",
            name,
        )
    return value


def geojson_response(text: str) -> HttpResponse:
    """The database's GeoJSON text as it is: parsing and re-serialising it would undo the point
    of building it there."""
    return HttpResponse(text, content_type="application/json")


# --- schema -------------------------------------------------------------------------------------

BBOX = OpenApiParameter(
    "bbox",
    str,
    required=True,
    description="范围 / box: minlon,minlat,maxlon,maxlat (WGS84)",
)

ERROR = OpenApiResponse(
    {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "detail": {"type": "string", "description": "中文 / English"},
            "where": {"type": "string", "nullable": True},
        },
    },
    description="错误 / error",
)


def feature_collection(
    geometry: str, properties: dict, description: str, *, with_id: bool = True
) -> OpenApiResponse:
    feature = {
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            **({"id": {"type": "integer"}} if with_id else {}),
            "geometry": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": [geometry]},
                    "coordinates": {"type": "array", "items": {}},
                },
            },
            "properties": {"type": "object", "properties": properties},
        },
    }
    return OpenApiResponse(
        {
            "type": "object",
            "properties": {
                "type": {"type": "string", "enum": ["FeatureCollection"]},
                "truncated": {
                    "type": "boolean",
                    "description": f"要素超过 {maplayers.MAX_FEATURES} 个时只返回前 "
                    f"{maplayers.MAX_FEATURES} 个 / true when more than "
                    f"{maplayers.MAX_FEATURES} features were found and the rest left out",
                },
                "features": {"type": "array", "items": feature},
            },
        },
        description=description,
    )


INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
STRING = {"type": "string"}
NULLABLE_STRING = {"type": "string", "nullable": True}
HOUSEHOLD_COUNTS = {
    "households": INTEGER,
    "residents": INTEGER,
    "colors": {
        "type": "object",
        "properties": {color: INTEGER for color in Household.Color.values},
        "description": "五色分类户数 / households by color",
    },
}


# --- map layers ---------------------------------------------------------------------------------


class BuildingLayerView(APIView):
    """建筑轮廓图层 / building footprints inside a box, as GeoJSON."""

    required_permissions = ["layers.view_building"]

    @extend_schema(
        parameters=[BBOX],
        responses={
            200: feature_collection(
                "Polygon",
                {
                    "id": INTEGER,
                    "name": NULLABLE_STRING,
                    "address": STRING,
                    "road": STRING,
                    "number": STRING,
                    "kind": STRING,
                    "floors": INTEGER,
                    "grid_code": NULLABLE_STRING,
                    "households": INTEGER,
                },
                "与范围相交的建筑轮廓 / footprints intersecting the box",
            ),
            400: ERROR,
        },
    )
    def get(self, request: Request) -> HttpResponse:
        return geojson_response(maplayers.buildings_geojson(require_bbox(request)))


class CameraLayerView(APIView):
    """摄像头图层 / cameras inside a box, as GeoJSON points."""

    required_permissions = ["layers.view_camera"]

    @extend_schema(
        parameters=[BBOX],
        responses={
            200: feature_collection(
                "Point",
                {
                    "id": INTEGER,
                    "code": STRING,
                    "name": NULLABLE_STRING,
                    "bearing": NUMBER,
                    "fov": NUMBER,
                    "range_m": NUMBER,
                    "status": STRING,
                    "grid_code": NULLABLE_STRING,
                },
                "范围内的摄像头 / cameras inside the box",
            ),
            400: ERROR,
        },
    )
    def get(self, request: Request) -> HttpResponse:
        return geojson_response(maplayers.cameras_geojson(require_bbox(request)))


class FacilityLayerView(APIView):
    """服务设施图层 / service facilities inside a box, as GeoJSON points."""

    required_permissions = ["layers.view_facility"]

    @extend_schema(
        parameters=[
            BBOX,
            OpenApiParameter(
                "kind", str, enum=Facility.Kind.values, description="设施类别 / kind (default all)"
            ),
        ],
        responses={
            200: feature_collection(
                "Point",
                {
                    "id": INTEGER,
                    "kind": STRING,
                    "name": STRING,
                    "address": NULLABLE_STRING,
                    "grid_code": NULLABLE_STRING,
                },
                "范围内的服务设施 / facilities inside the box",
            ),
            400: ERROR,
        },
    )
    def get(self, request: Request) -> HttpResponse:
        kind = parse_choice(request, "kind", Facility.Kind.values, None)
        return geojson_response(maplayers.facilities_geojson(require_bbox(request), kind))


HOUSEHOLD_GROUPS = ("grid", "building")


class HouseholdLayerView(APIView):
    """住户分布（汇总）/ households aggregated by building or by grid, never one by one."""

    # Counts only, no personal data: the grid's view permission is enough.
    required_permissions = ["gridmap.view_gridunit"]

    @extend_schema(
        parameters=[
            BBOX,
            OpenApiParameter(
                "group",
                str,
                enum=HOUSEHOLD_GROUPS,
                default="grid",
                description="grid：每个网格一个点；building：每栋建筑一个点，有独立位置的住户按约 10 米"
                "格网汇总 / grid: one point per grid; building: one point per building, "
                "households with their own location counted per ~10 m cell",
            ),
        ],
        responses={
            200: feature_collection(
                "Point",
                {
                    "group": {"type": "string", "enum": ["grid", "building", "location"]},
                    "grid_id": INTEGER,
                    "grid_code": STRING,
                    "grid_name": STRING,
                    "building_id": {"type": "integer", "nullable": True},
                    **HOUSEHOLD_COUNTS,
                },
                "汇总的户数、人数和五色分类 / aggregated households, residents and colors",
                with_id=False,
            ),
            400: ERROR,
        },
    )
    def get(self, request: Request) -> HttpResponse:
        bbox = require_bbox(request)
        if parse_choice(request, "group", HOUSEHOLD_GROUPS, "grid") == "building":
            return geojson_response(maplayers.households_by_building_geojson(bbox))
        return geojson_response(maplayers.households_by_grid_geojson(bbox))


# --- load ---------------------------------------------------------------------------------------


def unit_by_level(request: Request, levels: tuple[str, ...]) -> GridUnit:
    """The one unit named by one of `levels` as a query parameter (`grid=<id>`, `node=<id>` …)."""
    given = [level for level in levels if request.query_params.get(level)]
    names = "|".join(levels)
    if len(given) != 1:
        raise ApiError(
            "missing_parameter" if not given else "invalid_parameter",
            f"需要且只需要 {names} 中的一个参数（单元 id） / give exactly one of {names} "
            "(a unit id)",
            names,
        )
    level = given[0]
    raw = request.query_params[level]
    if not (raw.isascii() and raw.isdigit()):
        raise ApiError(
            f"invalid_{level}",
            f"{level} 应为单元 id，收到 '{raw}' / {level} must be a unit id, got '{raw}'",
            level,
        )
    unit = GridUnit.objects.filter(pk=int(raw), level=level).first()
    if unit is None:
        raise ApiError(
            "not_found",
            f"没有 id 为 {raw} 的{level}单元 / no {level} unit with id {raw}",
            level,
            404,
        )
    return unit


def parse_parent(request: Request, level: str) -> GridUnit | None:
    raw = request.query_params.get("parent")
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit():
        raise ApiError(
            "invalid_parent",
            f"parent 应为单元 id，收到 '{raw}' / parent must be a unit id, got '{raw}'",
            "parent",
        )
    parent = GridUnit.objects.filter(pk=int(raw)).first()
    if parent is None:
        raise ApiError("not_found", f"单元 {raw} 不存在 / unit {raw} does not exist", "parent", 404)
    if LEVELS.index(parent.level) >= LEVELS.index(level):
        raise ApiError(
            "invalid_parent",
            f"parent 须高于 {level} 层级，收到 {parent.level} / parent must be above "
            f"{level}, got a {parent.level}",
            "parent",
        )
    return parent


class UnitLoadView(APIView):
    """户数负荷：各单元户数与目标户数之比 / household load of units against their target."""

    required_permissions = ["gridmap.view_gridunit"]

    @extend_schema(
        parameters=[
            OpenApiParameter("level", str, enum=LOAD_LEVELS, default="grid"),
            OpenApiParameter(
                "parent",
                int,
                description="上级单元 id，与 bbox 至少给一个 / parent unit id; parent, bbox or both",
            ),
            OpenApiParameter(
                "bbox",
                str,
                description="范围，与 parent 至少给一个 / box: minlon,minlat,maxlon,maxlat (WGS84); "
                "parent, bbox or both",
            ),
        ],
        responses={
            200: inline_serializer(
                "UnitLoad",
                {
                    "level": serializers.CharField(),
                    "tolerance": serializers.FloatField(
                        help_text="偏离目标超过此比例即标记 / share off target that is flagged"
                    ),
                    "units": inline_serializer(
                        "UnitLoadRow",
                        {
                            "id": serializers.IntegerField(),
                            "code": serializers.CharField(),
                            "name": serializers.CharField(),
                            "level": serializers.CharField(),
                            "households": serializers.IntegerField(),
                            "residents": serializers.IntegerField(),
                            "grids": serializers.IntegerField(),
                            "target": serializers.IntegerField(),
                            "ratio": serializers.FloatField(allow_null=True),
                            "flag": serializers.ChoiceField(
                                ["under", "ok", "over"], allow_null=True
                            ),
                        },
                        many=True,
                    ),
                },
            ),
            400: ERROR,
            404: ERROR,
        },
    )
    def get(self, request: Request) -> Response:
        level = parse_choice(request, "level", LOAD_LEVELS, "grid")
        parent = parse_parent(request, level)
        bbox = parse_bbox(request)
        if parent is None and bbox is None:
            raise ApiError(
                "missing_parameter",
                "需要参数 parent 或 bbox / parameter parent or bbox is required",
                "parent",
            )
        return Response(
            {
                "level": level,
                "tolerance": WORKLOAD_TOLERANCE,
                "units": unit_load(level, parent=parent, bbox=bbox),
            }
        )


# --- search -------------------------------------------------------------------------------------

SEARCH_MAX_LIMIT = 100


def parse_limit(request: Request, default: int = 20) -> int:
    raw = request.query_params.get("limit")
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= SEARCH_MAX_LIMIT):
        raise ApiError(
            "invalid_limit",
            f"limit 应为 1 到 {SEARCH_MAX_LIMIT} 的整数，收到 '{raw}' / limit must be an integer "
            f"from 1 to {SEARCH_MAX_LIMIT}, got '{raw}'",
            "limit",
        )
    return int(raw)


class SearchView(APIView):
    """搜索：网格单元（编码、名称）和建筑（门牌地址）/ search units and buildings."""

    # Building results need layers.view_building as well; the view leaves them out otherwise.
    required_permissions = ["gridmap.view_gridunit"]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                str,
                required=True,
                description="单元编码开头、名称或门牌地址；全角数字、空格和末尾的“号”可有可无 / a unit "
                "code prefix, a name or an address; full-width digits, spaces and a trailing 号 "
                "do not matter",
            ),
            OpenApiParameter("limit", int, default=20, description=f"1–{SEARCH_MAX_LIMIT}"),
        ],
        responses={
            200: inline_serializer(
                "SearchResult",
                {
                    "type": serializers.ChoiceField(["unit", "building"]),
                    "id": serializers.IntegerField(),
                    "label": serializers.CharField(),
                    "code": serializers.CharField(required=False, help_text="仅单元 / units"),
                    "level": serializers.CharField(required=False, help_text="仅单元 / units"),
                    "address": serializers.CharField(
                        required=False, help_text="仅建筑 / buildings"
                    ),
                    "bbox": serializers.ListField(
                        child=serializers.FloatField(), help_text="[minlon, minlat, maxlon, maxlat]"
                    ),
                    "point": serializers.ListField(
                        child=serializers.FloatField(), help_text="[lon, lat]"
                    ),
                },
                many=True,
            ),
            400: ERROR,
        },
    )
    def get(self, request: Request) -> Response:
        q = (request.query_params.get("q") or "").strip()
        if not q:
            raise ApiError("missing_parameter", "缺少参数 q / missing parameter q", "q")
        limit = parse_limit(request)
        buildings = request.user.has_perm("layers.view_building")
        return Response(search(q, limit, buildings=buildings))
