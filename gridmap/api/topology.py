"""Topology API: the report of gridmap.topology.check for a unit and everything below it."""

from __future__ import annotations

import math

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gridmap.api.errors import ApiError
from gridmap.codes import CodeError
from gridmap.topology import DEFAULT_TOLERANCE_M2, UnknownUnit, check


def _point():
    return serializers.ListField(child=serializers.FloatField(), help_text="WGS84 [lon, lat]")


_REPORT = inline_serializer(
    "TopologyReport",
    {
        "unit": serializers.CharField(help_text="编码前缀，空为全部 / code prefix, empty = all"),
        "tolerance_m2": serializers.FloatField(),
        "ok": serializers.BooleanField(help_text="无错误 / no errors"),
        "errors": serializers.IntegerField(help_text="缝隙+重叠+超出+编码错误 / error count"),
        "warnings": serializers.IntegerField(help_text="编号顺序 / code-order warnings"),
        "tilings": inline_serializer(
            "TopologyTiling",
            {
                "code": serializers.CharField(),
                "name": serializers.CharField(),
                "level": serializers.CharField(),
                "children": serializers.IntegerField(),
                "gap_m2": serializers.FloatField(),
                "overlap_m2": serializers.FloatField(),
                "outside_m2": serializers.FloatField(),
                "ok": serializers.BooleanField(),
            },
            many=True,
        ),
        "gaps": inline_serializer(
            "TopologyGap",
            {
                "parent": serializers.CharField(),
                "area_m2": serializers.FloatField(),
                "point": _point(),
            },
            many=True,
        ),
        "overlaps": inline_serializer(
            "TopologyOverlap",
            {
                "a": serializers.CharField(),
                "b": serializers.CharField(),
                "parent": serializers.CharField(),
                "area_m2": serializers.FloatField(),
                "point": _point(),
            },
            many=True,
        ),
        "outside": inline_serializer(
            "TopologyOutside",
            {
                "child": serializers.CharField(),
                "parent": serializers.CharField(),
                "area_m2": serializers.FloatField(),
                "point": _point(),
            },
            many=True,
        ),
        "bad_codes": inline_serializer(
            "TopologyBadCode",
            {
                "code": serializers.CharField(),
                "parent": serializers.CharField(allow_null=True),
                "reason": serializers.CharField(help_text="wrong_length | not_under_parent"),
            },
            many=True,
        ),
        "order": inline_serializer(
            "TopologyOutOfOrder",
            {
                "code": serializers.CharField(),
                "node": serializers.CharField(),
                "expected": serializers.IntegerField(help_text="阅读顺序位置 / reading order"),
                "actual": serializers.IntegerField(help_text="编码顺序位置 / code order"),
            },
            many=True,
        ),
    },
)


def _tolerance(request: Request) -> float:
    raw = request.query_params.get("tolerance")
    if raw is None or raw.strip() == "":
        return DEFAULT_TOLERANCE_M2
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise ApiError(
            "invalid_tolerance",
            f"容差应为非负数（平方米），收到 '{raw}' / tolerance must be a non-negative number "
            f"of m², got '{raw}'",
            "tolerance",
        )
    return value


class TopologyView(APIView):
    """拓扑检查：缝隙、重叠、超出上级、编码及编号顺序 / topology check of a unit and below."""

    required_permissions = ["gridmap.view_gridunit"]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "unit",
                OpenApiTypes.STR,
                description="单元编码或前缀，空为全部 / unit code or prefix, empty = everything",
            ),
            OpenApiParameter(
                "tolerance",
                OpenApiTypes.DOUBLE,
                description=f"容差（平方米）/ tolerance in m² (default {DEFAULT_TOLERANCE_M2:g})",
            ),
        ],
        responses=_REPORT,
        description=(
            "检查单元及其下级：下级是否无缝隙、无重叠、不超出上级（椭球面面积，平方米），编码是否以上级"
            "编码开头；网格编号是否按自西向东、自北向南的阅读顺序（仅警告）。 / Checks a unit and "
            "everything below it: children tile their parent without gap, overlap or part "
            "outside (ellipsoidal m²), codes start with the parent's code; grids are numbered "
            "west→east, north→south (a warning only)."
        ),
    )
    def get(self, request: Request) -> Response:
        tolerance = _tolerance(request)
        unit = request.query_params.get("unit", "").strip()
        try:
            report = check(unit, tolerance)
        except CodeError as exc:
            raise ApiError("invalid_unit", str(exc), "unit") from None
        except UnknownUnit as exc:
            raise ApiError("unknown_unit", str(exc), "unit", 404) from None
        return Response(report.as_dict())
