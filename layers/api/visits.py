"""Visit API: households by due status (/api/visits/due/), the workload the colours make
(/api/visits/workload/), a household's visits and class changes, recording a visit, changing a
household's colour, visit photos. Thin: layers.visits keeps the schedule and decides who may see
and do what (its grids_visible_to is the one row-level rule); see docs/visits.md."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from django.http import FileResponse
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
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gridmap import audit
from gridmap.api.errors import ApiError
from gridmap.models import GridUnit, StaffMember
from layers import visits
from layers.api.incidents import _AnyAccept
from layers.api.views import ERROR, unit_by_level
from layers.models import ColorChange, ColorPolicy, Household, Visit
from layers.services import photos

BODY_PARSERS = [JSONParser, MultiPartParser, FormParser]
# What a household's visit history shows of it beyond its own private fields, as the audit log
# names it (docs/privacy.md).
HISTORY_PRIVATE_FIELDS = (
    *Household.PRIVATE_FIELDS,
    "visits.note",
    "visits.photo",
    "color_changes.reason",
)
# The most visits one request lists (a red household has 365 a year).
MAX_VISITS = 500


# --- request parsing --------------------------------------------------------------------------


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
            f"date 应为日期 YYYY-MM-DD，收到 '{raw}' / date must be a date YYYY-MM-DD, got '{raw}'",
            "date",
        )
    return day


def _statuses(request: Request) -> set[str] | None:
    raw = request.query_params.get("status")
    if not raw:
        return None
    values = {v.strip() for v in raw.split(",") if v.strip()}
    allowed = visits.Status.values
    if not values or not values <= set(allowed):
        names = ", ".join(allowed)
        raise ApiError(
            "invalid_status",
            f"status 应为 {names} 中的一个或多个（逗号分隔），收到 '{raw}' / status must be one or "
            f"more of {names}, comma-separated, got '{raw}'",
            "status",
        )
    return values


def _refused(exc: visits.VisitError) -> ApiError:
    return ApiError(exc.code, exc.detail, exc.where, exc.status)


def _visible_grids(request: Request, unit: GridUnit) -> list[int]:
    try:
        return visits.visible_grid_ids(request.user, unit)
    except visits.VisitError as exc:
        raise _refused(exc) from None


def _household(request: Request, pk: int) -> Household:
    household = get_object_or_404(Household, pk=pk)
    try:
        visits.check_may_see(request.user, household)
    except visits.VisitError as exc:
        raise _refused(exc) from None
    return household


# --- bodies -----------------------------------------------------------------------------------


def _iso(moment: dt.datetime | None, zone: dt.tzinfo | None = None) -> str | None:
    """ISO 8601 in local time (Asia/Shanghai); `zone` once per list, not looked up per row."""
    if moment is None:
        return None
    return moment.astimezone(zone or timezone.get_current_timezone()).isoformat()


def _unit_body(unit: GridUnit) -> dict:
    return {"id": unit.id, "code": unit.code, "name": unit.name, "level": unit.level}


def _labels() -> dict[str, Any]:
    """The choice labels the due list shows, in the request's language, and the time zone,
    looked up once per list."""
    return {
        "zone": timezone.get_current_timezone(),
        "color": {value: str(label) for value, label in Household.Color.choices},
        "period": {value: str(label) for value, label in ColorPolicy.Period.choices},
        "role": {value: str(label) for value, label in StaffMember.Role.choices},
        "status": {value: str(label) for value, label in visits.Status.choices},
    }


def due_body(row: visits.DueHousehold, labels: dict[str, Any] | None = None) -> dict:
    """One household as the due list shows it; personal fields only if they were selected."""
    labels = labels or _labels()
    body = {
        "id": row.id,
        "grid": {"id": row.grid_id, "code": row.grid_code} if row.grid_id else None,
        "building": {"id": row.building_id, "name": row.building_name, "address": row.address},
        "unit_no": row.unit_no,
        "floor": row.floor,
        "color": row.color,
        "color_label": labels["color"][row.color],
        "period": row.period,
        "period_label": labels["period"][row.period],
        "responsible_role": row.role,
        "responsible_role_label": labels["role"][row.role],
        "last_visit": _iso(row.last_visit, labels["zone"]),
        "next_due": row.next_due.isoformat(),
        "status": row.status,
        "status_label": labels["status"][row.status],
        "overdue_since": row.overdue_since.isoformat() if row.overdue_since else None,
        "overdue_days": row.overdue_days,
    }
    if row.private is not None:
        body.update(row.private)
    return body


def _visit_body(visit: Visit, private: bool) -> dict:
    staff = visit.staff_member
    body = {
        "id": visit.id,
        "visited_at": _iso(visit.visited_at),
        "user": visit.username or None,
        "staff": {"id": staff.id, "name": staff.name, "role": staff.role} if staff else None,
        "created_at": _iso(visit.created_at),
    }
    if private:
        # What was found in a home and its photo are personal data, like the household's own.
        body["note"] = visit.note
        body["photo"] = (
            reverse("visit-photo", args=[visit.household_id, visit.id]) if visit.photo else None
        )
    return body


def _change_body(change: ColorChange, private: bool) -> dict:
    body = {
        "id": change.id,
        "household": change.household_id,
        "from_color": change.from_color,
        "to_color": change.to_color,
        "user": change.username or None,
        "at": _iso(change.at),
    }
    if private:
        body["reason"] = change.reason
    return body


# --- schema -----------------------------------------------------------------------------------

PRIVATE_NOTE = "仅限有 layers.change_household 权限者 / only with layers.change_household"
DATE = OpenApiParameter(
    "date",
    OpenApiTypes.DATE,
    description="按哪一天判断（北京时间），默认今天 / the day to judge on (Asia/Shanghai); "
    "default today",
)
STATUS = OpenApiParameter(
    "status",
    str,
    description=f"只列出这些状态，可逗号分隔多个：{', '.join(visits.Status.values)} / only these "
    "statuses, comma-separated",
)


def _unit_parameter(level: str) -> OpenApiParameter:
    return OpenApiParameter(
        level, int, description=f"{level} 单元 id（各参数只给一个） / {level} unit id (give one)"
    )


UNIT = inline_serializer(
    "VisitUnit",
    {
        "id": serializers.IntegerField(),
        "code": serializers.CharField(),
        "name": serializers.CharField(),
        "level": serializers.CharField(),
    },
)
DUE_HOUSEHOLD_FIELDS = {
    "id": serializers.IntegerField(),
    "grid": inline_serializer(
        "VisitGrid",
        {"id": serializers.IntegerField(), "code": serializers.CharField()},
        allow_null=True,
    ),
    "building": inline_serializer(
        "VisitBuilding",
        {
            "id": serializers.IntegerField(),
            "name": serializers.CharField(),
            "address": serializers.CharField(),
        },
    ),
    "unit_no": serializers.IntegerField(),
    "floor": serializers.IntegerField(),
    "color": serializers.CharField(help_text=", ".join(Household.Color.values)),
    "color_label": serializers.CharField(),
    "period": serializers.CharField(help_text=", ".join(ColorPolicy.Period.values)),
    "period_label": serializers.CharField(),
    "responsible_role": serializers.CharField(help_text=", ".join(StaffMember.Role.values)),
    "responsible_role_label": serializers.CharField(),
    "last_visit": serializers.DateTimeField(allow_null=True),
    "next_due": serializers.DateField(
        help_text="下次走访最迟日期 / the last day for the next visit"
    ),
    "status": serializers.CharField(help_text=", ".join(visits.Status.values)),
    "status_label": serializers.CharField(),
    "overdue_since": serializers.DateField(allow_null=True),
    "overdue_days": serializers.IntegerField(),
    **{
        name: serializers.CharField(required=False, help_text=PRIVATE_NOTE)
        for name in Household.PRIVATE_FIELDS
    },
}
DUE_HOUSEHOLD = inline_serializer("VisitDueHousehold", DUE_HOUSEHOLD_FIELDS)
VISIT = inline_serializer(
    "HouseholdVisit",
    {
        "id": serializers.IntegerField(),
        "visited_at": serializers.DateTimeField(),
        "user": serializers.CharField(allow_null=True),
        "staff": inline_serializer(
            "VisitStaff",
            {
                "id": serializers.IntegerField(),
                "name": serializers.CharField(),
                "role": serializers.CharField(),
            },
            allow_null=True,
        ),
        "created_at": serializers.DateTimeField(),
        "note": serializers.CharField(required=False, help_text=PRIVATE_NOTE),
        "photo": serializers.CharField(
            required=False, allow_null=True, help_text=f"照片地址 / photo URL; {PRIVATE_NOTE}"
        ),
    },
)
COLOR_CHANGE = inline_serializer(
    "HouseholdColorChange",
    {
        "id": serializers.IntegerField(),
        "household": serializers.IntegerField(),
        "from_color": serializers.CharField(),
        "to_color": serializers.CharField(),
        "user": serializers.CharField(allow_null=True),
        "at": serializers.DateTimeField(),
        "reason": serializers.CharField(required=False, help_text=PRIVATE_NOTE),
    },
)
COUNT_FIELDS = {
    "households": serializers.IntegerField(),
    "overdue": serializers.IntegerField(),
    "due_today": serializers.IntegerField(),
    "due": serializers.IntegerField(),
    "visits_owed_per_month": serializers.FloatField(
        help_text="按分类应走访次数/月 / visits the colours owe in the month"
    ),
    "visits_in_month": serializers.IntegerField(
        help_text="本月截至当日已走访次数 / visits made in the month up to the day"
    ),
}
WORKLOAD_COUNTS = {
    **COUNT_FIELDS,
    "by_color": serializers.DictField(
        child=inline_serializer("VisitColorCounts", COUNT_FIELDS),
        help_text="按五色 / by colour",
    ),
}


class VisitRequest(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    visited_at = serializers.DateTimeField(
        required=False, help_text="走访时间，默认现在，不能晚于现在 / when; default now, not later"
    )
    photo = serializers.FileField(
        required=False, help_text=f"照片（multipart），{photos.ACCEPTED}，≤ 10 MB / photo"
    )


class ColorRequest(serializers.Serializer):
    color = serializers.CharField(help_text=", ".join(Household.Color.values))
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, help_text="调整理由（必填） / why"
    )


# --- views ------------------------------------------------------------------------------------


class VisitsDueView(APIView):
    """待走访住户 / the households of a grid or community by due status, most urgent first."""

    required_permissions = [visits.READ_PERMISSION]

    @extend_schema(
        parameters=[_unit_parameter("grid"), _unit_parameter("node"), DATE, STATUS],
        responses={
            200: inline_serializer(
                "VisitsDue",
                {
                    "unit": UNIT,
                    "date": serializers.DateField(),
                    "counts": serializers.DictField(
                        child=serializers.IntegerField(),
                        help_text="各状态户数（status 过滤前） / households per status (before the "
                        "status filter)",
                    ),
                    "households": serializers.ListField(child=DUE_HOUSEHOLD),
                },
            ),
            400: ERROR,
            403: ERROR,
            404: ERROR,
        },
        description="逾期最久的在前，其次今日到期、本期待走访、已走访；同等时红色在前。规则见 "
        "docs/visits.md / overdue longest first, then due today, due this period and visited; "
        "red first within each. Rules: docs/visits.md.",
    )
    def get(self, request: Request) -> Response:
        unit = unit_by_level(request, ("grid", "node"))
        day = _date(request)
        wanted = _statuses(request)
        grid_ids = _visible_grids(request, unit)
        rows = visits.due(grid_ids, day, private=visits.may_see_private(request.user))
        counts = Counter(row.status for row in rows)
        shown = [row for row in rows if wanted is None or row.status in wanted]
        labels = _labels()
        audit.log_read(
            request.user,
            Household,
            [row.id for row in shown if row.private is not None],
            Household.PRIVATE_FIELDS,
            request,
        )
        return Response(
            {
                "unit": _unit_body(unit),
                "date": day.isoformat(),
                "counts": {s: counts[s] for s in visits.Status.values},
                "households": [due_body(row, labels) for row in shown],
            }
        )


class VisitWorkloadView(APIView):
    """走访工作量 / per grid: households due and overdue, visits the colours owe a month."""

    required_permissions = ["gridmap.view_gridunit"]

    @extend_schema(
        parameters=[*(_unit_parameter(level) for level in ("grid", "node", "segment")), DATE],
        responses={
            200: inline_serializer(
                "VisitWorkload",
                {
                    "unit": UNIT,
                    "date": serializers.DateField(),
                    "days_in_month": serializers.IntegerField(),
                    "total": inline_serializer("VisitWorkloadTotal", WORKLOAD_COUNTS),
                    "grids": serializers.ListField(
                        child=inline_serializer(
                            "VisitWorkloadGrid",
                            {
                                "id": serializers.IntegerField(),
                                "code": serializers.CharField(),
                                "name": serializers.CharField(),
                                **WORKLOAD_COUNTS,
                            },
                        )
                    ),
                },
            ),
            400: ERROR,
            403: ERROR,
            404: ERROR,
        },
        description="只有计数，没有住户 / counts only, no households.",
    )
    def get(self, request: Request) -> Response:
        unit = unit_by_level(request, ("grid", "node", "segment"))
        day = _date(request)
        # Counts only, as for viewers: grid staff see their community's figures too.
        grid_ids = list(GridUnit.objects.grids_of(unit).values_list("id", flat=True))
        work = visits.workload(grid_ids, day)
        grids = GridUnit.objects.filter(pk__in=grid_ids).order_by("code")
        return Response(
            {
                "unit": _unit_body(unit),
                "date": day.isoformat(),
                "days_in_month": work["days_in_month"],
                "total": work["total"],
                "grids": [
                    {"id": g.id, "code": g.code, "name": g.name, **work["grids"][g.id]}
                    for g in grids.only("id", "code", "name")
                ],
            }
        )


class HouseholdVisitsView(APIView):
    """住户走访记录；登记走访 / a household's visits and class changes; record a visit."""

    required_permissions = [visits.READ_PERMISSION]
    parser_classes = BODY_PARSERS

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "limit", int, description=f"最近几次，默认 100，至多 {MAX_VISITS} / latest n"
            ),
            DATE,
        ],
        responses={
            200: inline_serializer(
                "HouseholdVisits",
                {
                    "household": DUE_HOUSEHOLD,
                    "visits": serializers.ListField(child=VISIT),
                    "visits_total": serializers.IntegerField(),
                    "color_changes": serializers.ListField(child=COLOR_CHANGE),
                },
            ),
            400: ERROR,
            403: ERROR,
            404: ERROR,
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        household = _household(request, pk)
        raw = request.query_params.get("limit") or "100"
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_VISITS):
            raise ApiError(
                "invalid_limit",
                f"limit 应为 1 到 {MAX_VISITS} 的整数 / limit must be an integer from 1 to "
                f"{MAX_VISITS}",
                "limit",
            )
        private = visits.may_see_private(request.user)
        listed = household.visits.select_related("staff_member")
        body = {
            "household": due_body(visits.due_for(household, _date(request), private=private)),
            "visits": [_visit_body(v, private) for v in listed[: int(raw)]],
            "visits_total": listed.count(),
            "color_changes": [_change_body(c, private) for c in household.color_changes.all()],
        }
        if private:
            audit.log_read(request.user, Household, [pk], HISTORY_PRIVATE_FIELDS, request)
        return Response(body)

    @extend_schema(
        request={"application/json": VisitRequest, "multipart/form-data": VisitRequest},
        responses={
            201: inline_serializer("RecordedVisit", {"visit": VISIT, "household": DUE_HOUSEHOLD}),
            400: ERROR,
            403: ERROR,
            404: ERROR,
        },
        description="登记一次走访（网格人员，本网格或本社区）/ record a visit (grid staff of the "
        "household's grid or community).",
    )
    def post(self, request: Request, pk: int) -> Response:
        household = _household(request, pk)
        body = VisitRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            visit = visits.record_visit(
                household,
                request.user,
                data.get("note", ""),
                photo=data.get("photo"),
                at=data.get("visited_at"),
                via=request,
            )
        except visits.VisitError as exc:
            raise _refused(exc) from None
        private = visits.may_see_private(request.user)
        if private:
            audit.log_read(request.user, Household, [pk], Household.PRIVATE_FIELDS, request)
        return Response(
            {
                "visit": _visit_body(visit, private),
                "household": due_body(visits.due_for(household, private=private)),
            },
            status=status.HTTP_201_CREATED,
        )


class HouseholdColorView(APIView):
    """调整五色分类（须说明理由，记入调整记录） / change a household's colour, with a reason."""

    required_permissions = [visits.READ_PERMISSION]

    @extend_schema(
        request=ColorRequest,
        responses={
            200: inline_serializer(
                "ChangedColor", {"change": COLOR_CHANGE, "household": DUE_HOUSEHOLD}
            ),
            400: ERROR,
            403: ERROR,
            404: ERROR,
        },
        description="新分类从调整当期起计：当期须走访一次 / the new class starts with a visit owed "
        "in the period of the change.",
    )
    def post(self, request: Request, pk: int) -> Response:
        household = _household(request, pk)
        body = ColorRequest(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            change = visits.change_color(
                household,
                body.validated_data["color"],
                body.validated_data.get("reason", ""),
                request.user,
                via=request,
            )
        except visits.VisitError as exc:
            raise _refused(exc) from None
        private = visits.may_see_private(request.user)
        if private:
            audit.log_read(request.user, Household, [pk], Household.PRIVATE_FIELDS, request)
        return Response(
            {
                "change": _change_body(change, private),
                "household": due_body(visits.due_for(household, private=private)),
            }
        )


class VisitPhotoView(APIView):
    """走访照片（需登录及个人信息权限） / a visit photo, for those who may see personal data."""

    required_permissions = [visits.READ_PERMISSION]
    content_negotiation_class = _AnyAccept

    @extend_schema(
        responses={
            (200, "image/*"): OpenApiResponse(OpenApiTypes.BINARY, description="照片 / photo"),
            (403, "application/json"): ERROR,
            (404, "application/json"): ERROR,
        }
    )
    def get(self, request: Request, pk: int, visit_id: int) -> FileResponse:
        household = _household(request, pk)
        if not visits.may_see_private(request.user):
            raise ApiError(
                "not_permitted",
                f"走访照片属个人信息 / visit photos are personal data; {PRIVATE_NOTE}",
                "photo",
                403,
            )
        visit = get_object_or_404(Visit, pk=visit_id, household=household)
        if not visit.photo:
            raise ApiError("not_found", "该走访没有照片 / this visit has no photo", "visit_id", 404)
        audit.log_read(request.user, Visit, [visit.pk], ["photo"], request)
        response = FileResponse(
            visit.photo.open("rb"), content_type=photos.content_type(visit.photo.name)
        )
        response["Cache-Control"] = "private, max-age=3600"
        response["X-Content-Type-Options"] = "nosniff"
        return response
