"""Case API (/api/incidents/): list and open cases, one case with its timeline, move it through
the workflow, escalate it, add duplicate reports, counts per unit, timeline photos.

Thin: layers.workflow decides what may happen and who may do it; layers.services.cases reads
in bulk. Reading needs layers.view_incident, opening a case or adding a report
layers.add_incident; every change of a case is then decided by the workflow (403 when the
user may not), so grid staff need no change permission of their own.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.gis.geos import Point
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gridmap import audit, coords
from gridmap.api.errors import ApiError
from gridmap.api.serializers import ConversionSerializer
from gridmap.api.views import parse_point
from gridmap.codes import LEVELS
from gridmap.models import GridUnit
from layers import workflow
from layers.api.dispatch import UnitChainSerializer
from layers.api.views import (
    ERROR,
    NULLABLE_STRING,
    feature_collection,
    geojson_response,
    parse_bbox,
    parse_choice,
)
from layers.models import Incident, IncidentTransition
from layers.services import cases, photos

BODY_PARSERS = [JSONParser, MultiPartParser, FormParser]


# --- request parsing --------------------------------------------------------------------------


def _choices(request: Request, name: str, allowed: list[str]) -> tuple[str, ...] | None:
    """A comma-separated list of allowed values, or None when the parameter is absent."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    values = tuple(v.strip() for v in raw.split(",") if v.strip())
    wrong = [v for v in values if v not in allowed]
    if wrong or not values:
        names = ", ".join(allowed)
        raise ApiError(
            f"invalid_{name}",
            f"{name} 应为 {names} 中的一个或多个（逗号分隔），收到 '{raw}' / {name} must be one or "
            f"more of {names}, comma-separated, got '{raw}'",
            name,
        )
    return values


def _unit_code(request: Request, level: str) -> str | None:
    raw = request.query_params.get(level)
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise ApiError(
            f"invalid_{level}",
            f"{level} 应为单元 id，收到 '{raw}' / {level} must be a unit id, got '{raw}'",
            level,
        )
    code = GridUnit.objects.filter(pk=int(raw), level=level).values_list("code", flat=True).first()
    if code is None:
        raise ApiError(
            "not_found",
            f"没有 id 为 {raw} 的{level}单元 / no {level} unit with id {raw}",
            level,
            404,
        )
    return code


def _bool(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise ApiError(
        f"invalid_{name}",
        f"{name} 应为 true 或 false，收到 '{raw}' / {name} must be true or false, got '{raw}'",
        name,
    )


def _period(request: Request) -> tuple[dt.datetime | None, dt.datetime | None]:
    """`from` and `to` as dates in the server's time zone (Asia/Shanghai), both days included:
    [start of `from`, start of the day after `to`)."""
    bounds: list[dt.datetime | None] = []
    for name, shift in (("from", 0), ("to", 1)):
        raw = request.query_params.get(name)
        if not raw:
            bounds.append(None)
            continue
        try:
            day = parse_date(raw)
        except ValueError:
            day = None
        if day is None:
            raise ApiError(
                "invalid_date",
                f"{name} 应为日期 YYYY-MM-DD，收到 '{raw}' / {name} must be a date YYYY-MM-DD, "
                f"got '{raw}'",
                name,
            )
        bounds.append(
            timezone.make_aware(dt.datetime.combine(day + dt.timedelta(shift), dt.time()))
        )
    start, end = bounds
    if start and end and start >= end:
        raise ApiError("invalid_date", "from 不能晚于 to / from must not be after to", "from")
    return start, end


def _refused(exc: workflow.WorkflowError) -> ApiError:
    return ApiError(exc.code, exc.detail, exc.where, exc.status)


# --- bodies -----------------------------------------------------------------------------------


def _iso(moment: dt.datetime | None) -> str | None:
    return timezone.localtime(moment).isoformat() if moment else None


def _entry(entry: IncidentTransition) -> dict:
    return {
        "id": entry.id,
        "action": entry.action,
        "action_label": entry.get_action_display(),
        "from_status": entry.from_status or None,
        "to_status": entry.to_status,
        "from_level": entry.from_level or None,
        "to_level": entry.to_level,
        "user": entry.username or None,
        "at": _iso(entry.at),
        "note": entry.note,
        "photo": reverse("incident-photo", args=[entry.incident_id, entry.id])
        if entry.photo
        else None,
        "data": entry.data,
    }


def case_body(incident: Incident, user) -> dict:
    """One case as the API shows it: its fields, grid chain, timeline and the user's actions."""
    incident.refresh_from_db()
    units = cases.unit_chain(incident.grid_id)
    return {
        "id": incident.id,
        "category": incident.category,
        "category_label": incident.get_category_display(),
        "description": incident.description,
        "status": incident.status,
        "status_label": incident.get_status_display(),
        "level": incident.level,
        "level_label": incident.get_level_display(),
        "point": [round(incident.location.x, 7), round(incident.location.y, 7)],
        "reported_at": _iso(incident.reported_at),
        "deadline": _iso(incident.deadline),
        "overdue": incident.is_overdue(),
        "department": incident.department,
        "rating": incident.rating,
        "closed_at": _iso(incident.closed_at),
        "updated_at": _iso(incident.updated_at),
        "grid_code": units["grid"]["code"] if units["grid"] else None,
        "reported_grid_code": incident.reported_grid_code or None,
        "units": units,
        "allowed_actions": workflow.allowed_actions(incident, user),
        "timeline": [_entry(e) for e in incident.transitions.all()],
    }


# --- schema -----------------------------------------------------------------------------------

TIMELINE_ENTRY = inline_serializer(
    "CaseTimelineEntry",
    {
        "id": serializers.IntegerField(),
        "action": serializers.ChoiceField(IncidentTransition.Action.choices),
        "action_label": serializers.CharField(),
        "from_status": serializers.CharField(
            allow_null=True, help_text="受理时为空 / null on open"
        ),
        "to_status": serializers.CharField(),
        "from_level": serializers.CharField(allow_null=True),
        "to_level": serializers.CharField(),
        "user": serializers.CharField(allow_null=True, help_text="空：系统 / null: the system"),
        "at": serializers.DateTimeField(),
        "note": serializers.CharField(),
        "photo": serializers.CharField(allow_null=True, help_text="照片地址 / photo URL"),
        "data": serializers.DictField(),
    },
    many=True,
)
CASE_FIELDS = {
    "id": serializers.IntegerField(),
    "category": serializers.ChoiceField(Incident.Category.choices),
    "category_label": serializers.CharField(),
    "description": serializers.CharField(),
    # Not a ChoiceField: a second component with this enum under the name "status" (besides the
    # cameras') leaves drf-spectacular no clean enum name.
    "status": serializers.CharField(help_text=", ".join(Incident.Status.values)),
    "status_label": serializers.CharField(),
    "level": serializers.ChoiceField(LEVELS),
    "level_label": serializers.CharField(),
    "point": serializers.ListField(child=serializers.FloatField(), help_text="[lon, lat] WGS84"),
    "reported_at": serializers.DateTimeField(),
    "deadline": serializers.DateTimeField(allow_null=True),
    "overdue": serializers.BooleanField(),
    "department": serializers.CharField(),
    "rating": serializers.IntegerField(allow_null=True),
    "closed_at": serializers.DateTimeField(allow_null=True),
    "updated_at": serializers.DateTimeField(),
    "grid_code": serializers.CharField(allow_null=True),
    "reported_grid_code": serializers.CharField(allow_null=True),
    "units": UnitChainSerializer(),
    "allowed_actions": serializers.ListField(child=serializers.CharField()),
    "timeline": TIMELINE_ENTRY,
}
CASE = inline_serializer("Case", CASE_FIELDS)
CREATED_CASE = inline_serializer(
    "CreatedCase",
    {
        **CASE_FIELDS,
        "conversion": ConversionSerializer(),
    },
)
ILLEGAL = OpenApiResponse(
    {
        "type": "object",
        "properties": {
            "error": {"type": "string", "enum": ["illegal_transition"]},
            "detail": {"type": "string"},
            "where": {
                "type": "object",
                "properties": {
                    "status": {"type": "string"},
                    "allowed": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
    description="当前状态不允许此操作；where.allowed 为可执行的操作 / the case's status does not "
    "allow the action; where.allowed lists the actions the user may take",
)


class CaseRequest(serializers.Serializer):
    category = serializers.ChoiceField(Incident.Category.choices)
    description = serializers.CharField(required=False, allow_blank=True, max_length=4000)


class CaseCreateRequest(CaseRequest):
    lon = serializers.FloatField()
    lat = serializers.FloatField()
    crs = serializers.ChoiceField(
        [c.value for c in coords.CRS], required=False, help_text="默认 / default wgs84"
    )


class TransitionRequest(serializers.Serializer):
    action = serializers.ChoiceField(list(workflow.TRANSITIONS))
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="说明；cancel、send_back、extend 必填 / note; required for cancel, send_back "
        "and extend",
    )
    hours = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=workflow.MAX_EXTENSION_HOURS,
        help_text="延期小时数（extend）/ hours to extend by (extend)",
    )
    department = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="承办部门（dispatch、send_back）/ department (dispatch, send_back)",
    )
    rating = serializers.IntegerField(
        required=False, min_value=1, max_value=5, help_text="评价 1–5（rate）/ rating (rate)"
    )
    photo = serializers.FileField(
        required=False,
        help_text=f"照片（multipart），{photos.ACCEPTED}，≤ 10 MB / photo (multipart)",
    )


class EscalateRequest(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="上报理由 / why")


class ReportRequest(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    photo = serializers.FileField(required=False, help_text=f"{photos.ACCEPTED}，≤ 10 MB")


def _body_schema(serializer) -> dict:
    return {"application/json": serializer, "multipart/form-data": serializer}


FROM_DATE = OpenApiParameter(
    "from", OpenApiTypes.DATE, description="上报日期起（含，北京时间）/ reported on or after"
)
TO_DATE = OpenApiParameter(
    "to", OpenApiTypes.DATE, description="上报日期止（含，北京时间）/ reported on or before"
)
LIST_PARAMETERS = [
    OpenApiParameter("status", str, description="状态，可逗号分隔多个 / statuses, comma-separated"),
    OpenApiParameter(
        "category", str, description="类别，可逗号分隔多个 / categories, comma-separated"
    ),
    *(
        OpenApiParameter(
            level,
            int,
            description=f"{level} 单元 id：当前所在网格在其下的事件 / unit id: cases whose current "
            f"grid lies in this {level}",
        )
        for level in cases.COUNT_LEVELS
    ),
    OpenApiParameter("overdue", bool, description="超时未结 / open and past the deadline"),
    FROM_DATE,
    TO_DATE,
    OpenApiParameter("bbox", str, description="minlon,minlat,maxlon,maxlat (WGS84)"),
    OpenApiParameter("level", str, enum=LEVELS, description="处置层级 / level holding the case"),
]
CASE_PROPERTIES = {
    "id": {"type": "integer"},
    "category": {"type": "string", "enum": Incident.Category.values},
    "category_label": {"type": "string"},
    "status": {"type": "string", "enum": Incident.Status.values},
    "status_label": {"type": "string"},
    "level": {"type": "string", "enum": list(LEVELS)},
    "deadline": {"type": "string", "format": "date-time", "nullable": True},
    "overdue": {"type": "boolean"},
    "department": {"type": "string"},
    "grid_code": NULLABLE_STRING,
    "reported_grid_code": NULLABLE_STRING,
    "reported_at": {"type": "string", "format": "date-time"},
}


# --- views ------------------------------------------------------------------------------------


class IncidentListView(APIView):
    """事件列表与新建事件 / the cases as GeoJSON; open a case."""

    # No required_permissions: DjangoModelPermissions reads them off the model, GET needing
    # layers.view_incident and POST layers.add_incident.
    queryset = Incident.objects.all()

    @extend_schema(
        operation_id="incidents_list",
        parameters=LIST_PARAMETERS,
        responses={
            200: feature_collection(
                "Point", CASE_PROPERTIES, "事件，按上报时间倒序 / cases, newest report first"
            ),
            400: ERROR,
            404: ERROR,
        },
    )
    def get(self, request: Request) -> HttpResponse:
        units = tuple(c for c in (_unit_code(request, u) for u in cases.COUNT_LEVELS) if c)
        start, end = _period(request)
        f = cases.CaseFilter(
            statuses=_choices(request, "status", Incident.Status.values),
            categories=_choices(request, "category", Incident.Category.values),
            unit_codes=units,
            overdue=_bool(request, "overdue"),
            start=start,
            end=end,
            bbox=parse_bbox(request),
            level=parse_choice(request, "level", LEVELS, None),
        )
        return geojson_response(cases.cases_geojson(f))

    @extend_schema(
        request=CaseCreateRequest,
        responses={201: CREATED_CASE, 400: ERROR},
        description="新建事件（接单受理）：坐标可为 wgs84、cgcs2000、gcj02、bd09，保存时分配到网格 / "
        "open a case at a point given in wgs84, cgcs2000, gcj02 or bd09; it is assigned to its "
        "grid when saved.",
    )
    def post(self, request: Request) -> Response:
        conversion = parse_point(request, request.data)
        body = CaseRequest(data=request.data)
        body.is_valid(raise_exception=True)
        incident = Incident(
            category=body.validated_data["category"],
            description=body.validated_data.get("description", "").strip(),
            location=Point(conversion.lon, conversion.lat, srid=4326),
        )
        workflow.open_case(incident, request.user)
        answer = case_body(incident, request.user)
        answer["conversion"] = ConversionSerializer(conversion).data
        return Response(answer, status=status.HTTP_201_CREATED)


class IncidentCountsView(APIView):
    """各单元事件统计 / cases per unit for a period."""

    required_permissions = ["layers.view_incident"]

    @extend_schema(
        parameters=[
            OpenApiParameter("by", str, enum=cases.COUNT_LEVELS, default="grid"),
            FROM_DATE,
            TO_DATE,
            OpenApiParameter(
                "period",
                str,
                enum=["month", "all"],
                default="month",
                description="无 from/to 时：本月（默认）或全部 / without from/to: this month "
                "(default) or all time",
            ),
        ],
        responses={
            200: inline_serializer(
                "CaseCounts",
                {
                    "by": serializers.ChoiceField(cases.COUNT_LEVELS),
                    "from": serializers.DateField(allow_null=True),
                    "to": serializers.DateField(allow_null=True),
                    "units": inline_serializer(
                        "CaseCountRow",
                        {
                            "id": serializers.IntegerField(allow_null=True),
                            "code": serializers.CharField(),
                            "name": serializers.CharField(allow_null=True),
                            "total": serializers.IntegerField(),
                            "open": serializers.IntegerField(),
                            "overdue": serializers.IntegerField(),
                            "by_status": serializers.DictField(child=serializers.IntegerField()),
                        },
                        many=True,
                    ),
                    "unassigned": serializers.IntegerField(
                        help_text="不在任何网格内的事件 / cases in no grid"
                    ),
                },
            ),
            400: ERROR,
        },
        description="按当前所在网格的编码前缀汇总；只列出有事件的单元 / counted by the code prefix of "
        "each case's current grid; only units with cases are listed.",
    )
    def get(self, request: Request) -> Response:
        by = parse_choice(request, "by", cases.COUNT_LEVELS, "grid")
        period = parse_choice(request, "period", ["month", "all"], "month")
        start, end = _period(request)
        given = request.query_params.get("from") or request.query_params.get("to")
        if not given and period == "month":
            # The current period: this month so far, in the server's time zone.
            today = timezone.localdate()
            start = timezone.make_aware(dt.datetime.combine(today.replace(day=1), dt.time()))
        counts = cases.case_counts(by, start, end)
        return Response(
            {
                "by": by,
                "from": request.query_params.get("from")
                or (start.date().isoformat() if start else None),
                "to": request.query_params.get("to") or None,
                **counts,
            }
        )


class _CaseView(APIView):
    required_permissions = ["layers.view_incident"]

    def case(self, pk: int) -> Incident:
        return get_object_or_404(Incident, pk=pk)


class IncidentDetailView(_CaseView):
    """单个事件：办理记录及当前用户可执行的操作 / one case, its timeline and your actions."""

    @extend_schema(responses={200: CASE, 403: ERROR, 404: ERROR})
    def get(self, request: Request, pk: int) -> Response:
        body = case_body(self.case(pk), request.user)
        # Citizens write names and phone numbers into the description (never exported).
        if body["description"]:
            audit.log_read(request.user, Incident, [pk], ["description"], request)
        return Response(body)


class IncidentTransitionView(_CaseView):
    """办理：按流程推进事件 / move a case through the workflow."""

    parser_classes = BODY_PARSERS

    @extend_schema(
        request=_body_schema(TransitionRequest),
        responses={200: CASE, 400: ERROR, 403: ERROR, 404: ERROR, 409: ILLEGAL},
        description="流程见 docs/dispatch.md；是否允许由流程决定 / the workflow (docs/dispatch.md) "
        "decides whether the action is allowed and for whom.",
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = self.case(pk)
        body = TransitionRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        action, note, photo = data.pop("action"), data.pop("note", ""), data.pop("photo", None)
        try:
            workflow.apply(incident, action, request.user, note, photo=photo, **data)
        except workflow.WorkflowError as exc:
            raise _refused(exc) from None
        return Response(case_body(incident, request.user))


class IncidentEscalateView(_CaseView):
    """上报上级：网格 → 社区 → 街道 → 区 / escalate a case one level up."""

    @extend_schema(
        request=EscalateRequest,
        responses={200: CASE, 400: ERROR, 403: ERROR, 404: ERROR, 409: ILLEGAL},
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = self.case(pk)
        body = EscalateRequest(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            workflow.escalate(incident, request.user, body.validated_data["reason"])
        except workflow.WorkflowError as exc:
            raise _refused(exc) from None
        return Response(case_body(incident, request.user))


class IncidentReportsView(_CaseView):
    """重复上报：记入已有事件的办理记录，状态不变 / add a duplicate report to a case."""

    required_permissions = ["layers.view_incident", "layers.add_incident"]
    parser_classes = BODY_PARSERS

    @extend_schema(
        request=_body_schema(ReportRequest),
        responses={201: CASE, 400: ERROR, 403: ERROR, 404: ERROR, 409: ILLEGAL},
    )
    def post(self, request: Request, pk: int) -> Response:
        incident = self.case(pk)
        body = ReportRequest(data=request.data)
        body.is_valid(raise_exception=True)
        note, photo = body.validated_data.get("note", ""), body.validated_data.get("photo")
        try:
            workflow.add_report(incident, request.user, note, photo=photo)
        except workflow.WorkflowError as exc:
            raise _refused(exc) from None
        return Response(case_body(incident, request.user), status=status.HTTP_201_CREATED)


class _AnyAccept(DefaultContentNegotiation):
    """An image is asked for with Accept: image/*; errors still answer in JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class IncidentPhotoView(_CaseView):
    """办理记录照片（需登录，不公开）/ a timeline photo, for signed-in users only."""

    content_negotiation_class = _AnyAccept

    @extend_schema(
        responses={
            (200, "image/*"): OpenApiResponse(OpenApiTypes.BINARY, description="照片 / photo"),
            (403, "application/json"): ERROR,
            (404, "application/json"): ERROR,
        }
    )
    def get(self, request: Request, pk: int, transition_id: int) -> FileResponse:
        entry = get_object_or_404(IncidentTransition, pk=transition_id, incident_id=pk)
        if not entry.photo:
            raise ApiError(
                "not_found", "该记录没有照片 / this entry has no photo", "transition_id", 404
            )
        response = FileResponse(
            entry.photo.open("rb"), content_type=photos.content_type(entry.photo.name)
        )
        response["Cache-Control"] = "private, max-age=3600"
        response["X-Content-Type-Options"] = "nosniff"
        return response
