"""Dispatch API (调度台): locate and route a reported point, and the camera sectors for the map."""

from __future__ import annotations

import math

from django.contrib.gis.geos import Point
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gridmap import coords
from gridmap.api.errors import ApiError
from gridmap.api.serializers import ConversionSerializer, UnitRefSerializer
from gridmap.api.views import parse_point
from gridmap.models import StaffMember
from layers.api.views import (
    BBOX,
    ERROR,
    INTEGER,
    NULLABLE_STRING,
    NUMBER,
    STRING,
    feature_collection,
    geojson_response,
    parse_choice,
    require_bbox,
)
from layers.models import Camera, Incident
from layers.services import dispatch as service

# Query parameter → (default, largest allowed), in metres.
RADII = {"radius": (200, 2000), "camera_radius": (300, 5000)}


def parse_metres(request: Request, name: str) -> int | float:
    """A distance in metres from the query string, from 1 to its limit; its default if absent."""
    default, maximum = RADII[name]
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 1 <= value <= maximum:  # nan fails this too
        raise ApiError(
            f"invalid_{name}",
            f"{name} 应为 1 到 {maximum} 之间的米数，收到 '{raw}' / {name} must be a number of "
            f"metres from 1 to {maximum}, got '{raw}'",
            name,
        )
    return int(value) if value.is_integer() else value


# --- schema -------------------------------------------------------------------------------------


class DispatchContactSerializer(serializers.Serializer):
    role = serializers.ChoiceField(StaffMember.Role.choices)
    role_label = serializers.CharField()
    name = serializers.CharField()
    phone = serializers.CharField()


class UnitChainSerializer(serializers.Serializer):
    grid = UnitRefSerializer(allow_null=True)
    node = UnitRefSerializer(allow_null=True)
    segment = UnitRefSerializer(allow_null=True)
    network = UnitRefSerializer(allow_null=True)


class DispatchEscalationSerializer(serializers.Serializer):
    level = serializers.ChoiceField(["grid", "node", "segment", "network"])
    unit = UnitRefSerializer(allow_null=True)
    contacts = DispatchContactSerializer(many=True)


class DispatchCameraSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(Camera.Status.choices)
    distance_m = serializers.FloatField(help_text="摄像头到该点，米 / camera to the point, metres")
    bearing = serializers.FloatField(help_text="朝向，正北顺时针 / degrees clockwise from north")
    fov = serializers.FloatField(help_text="视场角，360 为全向 / degrees; 360 is all-round")
    range_m = serializers.FloatField()
    sector = serializers.DictField(help_text="可视范围 GeoJSON Polygon / the area seen")


class DispatchCamerasSerializer(serializers.Serializer):
    covering = DispatchCameraSerializer(
        many=True, help_text="视野覆盖该点，近者在前 / nearest first"
    )
    nearby = DispatchCameraSerializer(
        many=True,
        help_text="无摄像头覆盖时，camera_radius 内的摄像头 / when none covers the point: those "
        "within camera_radius, nearest first",
    )
    blind_spot = serializers.BooleanField(help_text="无摄像头覆盖 / no camera covers the point")


class DispatchHouseholdSerializer(serializers.Serializer):
    point = serializers.ListField(
        child=serializers.FloatField(), help_text="住户位置，无则为建筑定位点 / [lon, lat]"
    )
    color = serializers.CharField(help_text="red 或 orange / red or orange")
    distance_m = serializers.FloatField()
    head_name = serializers.CharField(
        required=False, help_text="仅限有 layers.change_household 权限 / only with that permission"
    )
    head_phone = serializers.CharField(required=False, help_text="同上 / likewise")
    room = serializers.CharField(required=False, help_text="同上 / likewise")


class DispatchHouseholdsSerializer(serializers.Serializer):
    radius_m = serializers.FloatField()
    red = serializers.IntegerField()
    orange = serializers.IntegerField()
    points = DispatchHouseholdSerializer(
        many=True,
        required=False,
        help_text="近者在前；仅限有 layers.view_household 权限 / nearest first; only with that "
        "permission",
    )


class DispatchDuplicateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    category = serializers.ChoiceField(Incident.Category.choices)
    status = serializers.ChoiceField(Incident.Status.choices)
    reported_at = serializers.DateTimeField()
    distance_m = serializers.FloatField()


class DispatchSerializer(serializers.Serializer):
    point = serializers.ListField(child=serializers.FloatField(), help_text="WGS84 [lon, lat]")
    conversion = ConversionSerializer()
    units = UnitChainSerializer()
    reason = serializers.CharField(allow_null=True)
    staff = DispatchContactSerializer(many=True)
    escalation = DispatchEscalationSerializer(many=True, help_text="网格 → 社区 → 街道 → 区")
    edge_distance_m = serializers.FloatField(
        allow_null=True, help_text="到所在网格边界，米；不在网格内为 null / to the grid's edge"
    )
    cameras = DispatchCamerasSerializer()
    households = DispatchHouseholdsSerializer()
    duplicates = DispatchDuplicateSerializer(
        many=True,
        allow_null=True,
        help_text="同类、未结案、24 小时内、50 米内的事件；仅在给出 category 时 / open cases of "
        "the category reported within 24 h and 50 m; null without category",
    )


def _metres_parameter(name: str, description: str) -> OpenApiParameter:
    default, maximum = RADII[name]
    return OpenApiParameter(
        name, float, default=default, description=f"{description} (1–{maximum})"
    )


DISPATCH_PARAMETERS = [
    OpenApiParameter("lon", float, required=True, description="经度 / longitude"),
    OpenApiParameter("lat", float, required=True, description="纬度 / latitude"),
    OpenApiParameter(
        "crs",
        str,
        enum=[crs.value for crs in coords.CRS],
        default="wgs84",
        description="输入坐标系 / input CRS",
    ),
    _metres_parameter("radius", "重点住户搜索半径，米 / priority households within, metres"),
    _metres_parameter(
        "camera_radius", "盲区时附近摄像头的搜索半径，米 / blind spot search, metres"
    ),
    OpenApiParameter(
        "category",
        str,
        enum=Incident.Category.values,
        description="事件类别，用于查找可能重复的事件 / the report's category, to find duplicates",
    ),
]


# --- views --------------------------------------------------------------------------------------


class DispatchView(APIView):
    """定位与派遣 / locate and route: whose grid, whom to call, what the cameras see, who is near."""

    required_permissions = ["layers.view_incident"]

    @extend_schema(
        parameters=DISPATCH_PARAMETERS,
        responses={200: DispatchSerializer, 400: ERROR},
        description=(
            "该点所在的四级网格、网格人员和逐级上报的联系人，到网格边界的距离，视野覆盖该点的摄像头"
            "（无则为盲区并列出附近摄像头），半径内的红色、橙色住户（个人信息仅限有住户修改权限者），"
            "以及给出类别时可能重复的事件。距离均为椭球面上的米数。 / The grid chain, grid staff and "
            "the contacts of every level up the chain, the distance to the grid's edge, the cameras "
            "whose sector covers the point (else a blind spot and the cameras nearby), red and "
            "orange households within the radius (personal fields only with "
            "layers.change_household), and with a category the possible duplicate cases. "
            "Distances are metres on the ellipsoid."
        ),
    )
    def get(self, request: Request) -> Response:
        conversion = parse_point(request)
        radius = parse_metres(request, "radius")
        camera_radius = parse_metres(request, "camera_radius")
        category = parse_choice(request, "category", Incident.Category.values, None)
        point = Point(conversion.lon, conversion.lat, srid=4326)
        answer = service.dispatch(
            point,
            radius_m=radius,
            camera_radius_m=camera_radius,
            category=category,
            user=request.user,
            via=request,
        )
        return Response(
            {
                "point": [round(conversion.lon, 7), round(conversion.lat, 7)],
                "conversion": ConversionSerializer(conversion).data,
                **answer,
            }
        )


class CameraSectorView(APIView):
    """摄像头可视范围图层 / the sectors cameras see, as GeoJSON polygons."""

    required_permissions = ["layers.view_camera"]

    @extend_schema(
        parameters=[BBOX],
        responses={
            200: feature_collection(
                "Polygon",
                {
                    "id": INTEGER,
                    "code": STRING,
                    "name": NULLABLE_STRING,
                    "status": STRING,
                    "bearing": NUMBER,
                    "fov": NUMBER,
                    "range_m": NUMBER,
                    "grid_code": NULLABLE_STRING,
                },
                "与范围相交的摄像头可视扇形（全向为圆）/ camera sectors intersecting the box "
                "(circles for all-round cameras)",
            ),
            400: ERROR,
        },
    )
    def get(self, request: Request) -> HttpResponse:
        return geojson_response(service.camera_sectors_geojson(require_bbox(request)))
