"""Workload API: each grid's load against its target (/api/workload/grids/), each node's staff
against the community standard (/api/workload/nodes/), and the rebalance proposal of a node
(/api/workload/rebalance/, planners) with a way to apply it in one go. Thin: layers.workload does
the work; counts only, no personal data. See docs/workload.md."""

from __future__ import annotations

import datetime as dt
import math

from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gridmap import editing
from gridmap.api.errors import ApiError
from gridmap.geometry import GeometryError, from_geojson
from gridmap.models import GridUnit
from layers import workload
from layers.api.views import ERROR, unit_by_level

Level = GridUnit.Level
VIEW = ["gridmap.view_gridunit"]
PLAN = ["gridmap.view_gridunit", "gridmap.change_gridunit"]


# --- request parsing --------------------------------------------------------------------------


def _tolerance(request: Request) -> float:
    raw = request.query_params.get("tolerance")
    if not raw:
        return workload.TOLERANCE
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value < 1):
        raise ApiError(
            "invalid_tolerance",
            f"tolerance 应为 0 到 1 之间的小数（如 0.15），收到 '{raw}' / tolerance must be a "
            f"fraction between 0 and 1 (e.g. 0.15), got '{raw}'",
            "tolerance",
        )
    return value


def _date(request: Request) -> dt.date:
    raw = request.query_params.get("date")
    if not raw:
        return timezone.localdate()
    try:
        day = parse_date(raw)
    except ValueError:
        day = None
    if day is None:
        raise ApiError(
            "invalid_date",
            f"date 应为 YYYY-MM-DD，收到 '{raw}' / date must be YYYY-MM-DD, got '{raw}'",
            "date",
        )
    return day


# --- schema -----------------------------------------------------------------------------------


def _unit_parameter(level: str) -> OpenApiParameter:
    return OpenApiParameter(level, int, description=f"{level} 单元 id / id of a {level}")


TOLERANCE = OpenApiParameter(
    "tolerance", float, default=workload.TOLERANCE, description="允许偏离目标的比例 / ± share"
)
DATE = OpenApiParameter("date", str, description="YYYY-MM-DD，默认今天 / default today")
UNIT = inline_serializer(
    "WorkloadUnit",
    {
        "id": serializers.IntegerField(),
        "code": serializers.CharField(),
        "name": serializers.CharField(),
        "level": serializers.CharField(),
    },
)
BY_COLOR = serializers.DictField(child=serializers.FloatField(), help_text="按五色 / by colour")
GRID_FIELDS = {
    "households": serializers.IntegerField(),
    "residents": serializers.IntegerField(),
    "households_by_color": serializers.DictField(child=serializers.IntegerField()),
    "target": serializers.IntegerField(help_text="目标户数 / target households"),
    "visits_owed_per_month": serializers.FloatField(help_text="每月应走访次数 / visits a month"),
    "visits_by_color": BY_COLOR,
    "overdue_visits": serializers.IntegerField(help_text="逾期未走访户数 / households overdue"),
    "open_incidents": serializers.IntegerField(help_text="未结事件 / open incidents"),
}
GRID_WORKLOAD = inline_serializer(
    "GridWorkload",
    {
        "unit": UNIT,
        "date": serializers.DateField(),
        "days_in_month": serializers.IntegerField(),
        "tolerance": serializers.FloatField(),
        "grids": serializers.ListField(
            child=inline_serializer(
                "GridWorkloadRow",
                {
                    "id": serializers.IntegerField(),
                    "code": serializers.CharField(),
                    "name": serializers.CharField(),
                    "node": serializers.IntegerField(help_text="所属网节 id / its node"),
                    **GRID_FIELDS,
                    "band": serializers.ListField(child=serializers.FloatField()),
                    "ratio": serializers.FloatField(),
                    "flag": serializers.ChoiceField(["under", "ok", "over"]),
                },
            )
        ),
        "total": inline_serializer(
            "GridWorkloadTotal",
            {
                "grids": serializers.IntegerField(),
                "over": serializers.IntegerField(),
                "under": serializers.IntegerField(),
                "ok": serializers.IntegerField(),
                **GRID_FIELDS,
            },
        ),
    },
)
NODE_STAFFING = inline_serializer(
    "NodeStaffing",
    {
        "unit": UNIT,
        "tolerance": serializers.FloatField(),
        "nodes": serializers.ListField(
            child=inline_serializer(
                "NodeStaffingRow",
                {
                    "id": serializers.IntegerField(),
                    "code": serializers.CharField(),
                    "name": serializers.CharField(),
                    "households": serializers.IntegerField(),
                    "residents": serializers.IntegerField(),
                    "grids": serializers.IntegerField(),
                    "target": serializers.IntegerField(),
                    "ratio": serializers.FloatField(allow_null=True),
                    "flag": serializers.CharField(allow_null=True),
                    "grids_over": serializers.IntegerField(),
                    "grids_under": serializers.IntegerField(),
                    "required_staff": serializers.IntegerField(
                        help_text="社区工作者配备标准（seed 000） / the community staff standard"
                    ),
                    "assigned_staff": serializers.IntegerField(
                        help_text="社区负责人、网格长、网格指导员、专职网格员岗位数 / posts counted"
                    ),
                    "staff_gap": serializers.IntegerField(help_text="assigned − required"),
                    "staff_by_role": serializers.DictField(child=serializers.IntegerField()),
                    "grid_workers_needed": serializers.IntegerField(
                        help_text="每目标户数一名专职网格员（seed 002） / one per target"
                    ),
                    "grid_workers": serializers.IntegerField(),
                },
            )
        ),
    },
)
PROPOSAL = inline_serializer(
    "RebalanceProposal",
    {
        "node": UNIT,
        "tolerance": serializers.FloatField(),
        "balanced": serializers.BooleanField(help_text="建议完成后各网格均达标 / all balanced"),
        "reason": serializers.ChoiceField(["balanced", "no_neighbour", "no_move_helps", "limit"]),
        "detail": serializers.CharField(),
        "moves": serializers.ListField(
            child=serializers.DictField(),
            help_text="按顺序：from、to、buildings、households、area（GeoJSON）、footprints、arrow、"
            "transfer {unit, version, versions, url} / in order",
        ),
        "refused": serializers.ListField(child=serializers.DictField()),
        "grids": serializers.ListField(child=serializers.DictField()),
    },
)


# --- views ------------------------------------------------------------------------------------


class GridWorkloadView(APIView):
    """网格工作量 / per grid: households, residents, visits owed a month by colour, open
    incidents, against the target."""

    required_permissions = VIEW

    @extend_schema(
        parameters=[_unit_parameter("node"), _unit_parameter("segment"), DATE, TOLERANCE],
        responses={200: GRID_WORKLOAD, 400: ERROR, 403: ERROR, 404: ERROR},
        description="只有计数，没有住户 / counts only, no households.",
    )
    def get(self, request: Request) -> Response:
        unit = unit_by_level(request, (Level.NODE, Level.SEGMENT))
        return Response(workload.grid_workload(unit, _date(request), _tolerance(request)))


class NodeStaffingView(APIView):
    """网节人员配备 / per node: staff required by the community standard against those posted,
    grids over and under their target."""

    required_permissions = [*VIEW, "gridmap.view_staffmember"]

    @extend_schema(
        parameters=[
            _unit_parameter("node"),
            _unit_parameter("segment"),
            _unit_parameter("network"),
            TOLERANCE,
        ],
        responses={200: NODE_STAFFING, 400: ERROR, 403: ERROR, 404: ERROR},
    )
    def get(self, request: Request) -> Response:
        unit = unit_by_level(request, (Level.NODE, Level.SEGMENT, Level.NETWORK))
        tolerance = _tolerance(request)
        return Response(
            {
                "unit": {"id": unit.id, "code": unit.code, "name": unit.name, "level": unit.level},
                "tolerance": tolerance,
                "nodes": workload.node_staffing(unit, tolerance),
            }
        )


def _with_urls(proposal: dict) -> dict:
    for move in proposal["moves"]:
        move["transfer"]["url"] = reverse("unit-transfer", args=[move["transfer"]["unit"]])
    return proposal


class RebalanceView(APIView):
    """再平衡建议 / which buildings to hand between neighbouring grids of a node so that each
    comes within the tolerance of its target; a preview, nothing is written."""

    required_permissions = PLAN

    @extend_schema(
        parameters=[_unit_parameter("node"), TOLERANCE],
        responses={200: PROPOSAL, 400: ERROR, 403: ERROR, 404: ERROR},
        description="每一步可通过 POST /api/units/{to}/transfer/ 以 transfer 中的 version、versions "
        "和 area 应用，或整体 POST /api/workload/rebalance/apply/ / apply each move through the "
        "editor's transfer with its version, versions and area, or all at once.",
    )
    def get(self, request: Request) -> Response:
        node = unit_by_level(request, (Level.NODE,))
        proposal = workload.rebalance(node, _tolerance(request), user=request.user)
        return Response(_with_urls(proposal))


class ApplyRequest(serializers.Serializer):
    node = serializers.IntegerField(help_text="网节 id / the node")
    moves = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        help_text="建议中的 moves（至少含 area 与 transfer）/ the proposal's moves, in order",
    )
    note = serializers.CharField(default="", allow_blank=True, max_length=2000)


def _is_version(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _transfer_of(node: GridUnit, move: dict, index: int) -> workload.Transfer:
    """A move of the request, checked: a transfer to a grid of `node`, with its area."""
    transfer = move.get("transfer")
    where = f"moves[{index}]"
    versions = transfer.get("versions", {}) if isinstance(transfer, dict) else None
    if (
        not isinstance(transfer, dict)
        or not isinstance(transfer.get("unit"), int)
        or not _is_version(transfer.get("version"))
        or not isinstance(versions, dict)
        or not all(str(k).isdigit() and _is_version(v) for k, v in versions.items())
    ):
        raise ApiError(
            "invalid",
            f"{where} 应含 area 与 transfer {{unit, version, versions}} / {where} must hold area "
            "and transfer {unit, version, versions}",
            where,
        )
    if not GridUnit.objects.filter(pk=transfer["unit"], parent=node, level=Level.GRID).exists():
        raise ApiError(
            "invalid",
            f"{where} 的接收单元不是 {node.code} 的网格 / the receiving unit of {where} is not a "
            f"grid of {node.code}",
            where,
        )
    try:
        area = from_geojson(move.get("area"), f"{where}.area", ("Polygon", "MultiPolygon"))
    except GeometryError as exc:
        status_code = 422 if exc.code == "invalid_geometry" else 400
        raise ApiError(exc.code, exc.detail, exc.where, status_code) from None
    return workload.Transfer(
        unit=transfer["unit"],
        version=transfer["version"],
        versions={int(k): v for k, v in versions.items()},
        area=area,
    )


class RebalanceApplyView(APIView):
    """应用再平衡建议 / make a proposal's moves, in order, in one transaction."""

    required_permissions = PLAN

    @extend_schema(
        request=ApplyRequest,
        responses={
            201: inline_serializer(
                "RebalanceApplied",
                {
                    "edits": serializers.ListField(child=serializers.IntegerField()),
                    "load": serializers.ListField(child=serializers.DictField()),
                },
            ),
            400: ERROR,
            403: ERROR,
            409: ERROR,
            422: ERROR,
        },
        description="全部成功或全部不做；单元版本已变化时 409 / all or nothing; 409 when a grid "
        "changed since the proposal.",
    )
    def post(self, request: Request) -> Response:
        body = ApplyRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        node = GridUnit.objects.filter(pk=data["node"], level=Level.NODE).first()
        if node is None:
            raise ApiError(
                "not_found",
                f"没有 id 为 {data['node']} 的网节 / no node {data['node']}",
                "node",
                404,
            )
        moves = [_transfer_of(node, move, i) for i, move in enumerate(data["moves"])]
        try:
            results = workload.apply(moves, user=request.user, note=data["note"])
        except editing.EditError as exc:
            raise ApiError(exc.code, exc.detail, exc.where, exc.status) from None
        return Response(
            {
                "edits": [r.edit.pk for r in results if r.edit is not None],
                "load": [row for r in results for row in r.load],
            },
            status=status.HTTP_201_CREATED,
        )
