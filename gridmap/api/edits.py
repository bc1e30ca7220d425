"""Edit API: the topological edit operations, their history, undo. Thin: gridmap.editing does
the work; this module parses the request, maps refusals to the error shape, and answers."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gridmap import editing
from gridmap.api.errors import ApiError
from gridmap.geometry import GeometryError, from_geojson, to_geojson, to_shapely
from gridmap.models import GridUnit, UnitEdit, UnitVersion

POLYGONAL = ("Polygon", "MultiPolygon")
_ERRORS = (
    "400 请求有误 / malformed request; 403 非规划人员 / not a planner; 404 无此单元 / no such unit; "
    "409 版本已过期 / stale version; 422 修改会破坏拓扑 / the edit would break the topology "
    "(invalid_geometry, outside_parent, overlap, gap, child_cut, child_emptied, unit_emptied, "
    "not_adjacent, not_siblings, line_does_not_split)"
)


class EditRequest(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1, help_text="编辑所基于的单元版本 / the unit version the edit is based on"
    )
    preview = serializers.BooleanField(
        default=False, help_text="仅预览，不写入 / dry run: report, write nothing"
    )
    note = serializers.CharField(default="", allow_blank=True, max_length=2000)
    versions = serializers.DictField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        help_text="其他涉及单元的版本 {id: version}（来自预览） / versions of the other units "
        "touched, as the preview returned them",
    )


class ReshapeRequest(EditRequest):
    geometry = serializers.JSONField(help_text="新边界 GeoJSON Polygon/MultiPolygon, WGS84")


class SplitRequest(EditRequest):
    line = serializers.JSONField(help_text="分割线 GeoJSON LineString, WGS84")
    name = serializers.CharField(required=False, max_length=100, help_text="新单元名称 / name")


class MergeRequest(EditRequest):
    other = serializers.IntegerField(help_text="被并入的单元 id / the unit merged into this one")
    other_version = serializers.IntegerField(min_value=1)


class TransferRequest(EditRequest):
    area = serializers.JSONField(help_text="划入本单元的区域 GeoJSON Polygon/MultiPolygon")


class RestoreRequest(EditRequest):
    to_version = serializers.IntegerField(min_value=1, help_text="要恢复的历史版本 / version")


class UndoRequest(serializers.Serializer):
    preview = serializers.BooleanField(default=False)
    note = serializers.CharField(default="", allow_blank=True, max_length=2000)


EditResultSerializer = inline_serializer(
    "EditResult",
    {
        "operation": serializers.CharField(),
        "preview": serializers.BooleanField(),
        "edit": serializers.DictField(allow_null=True),
        "units": serializers.ListField(child=serializers.DictField()),
        "versions": serializers.DictField(child=serializers.IntegerField()),
        "reassignment": serializers.DictField(),
        "load": serializers.ListField(child=serializers.DictField()),
        "staff_moved": serializers.ListField(child=serializers.DictField()),
    },
)


def _geometry(value: Any, field: str, kinds: tuple[str, ...]):
    try:
        return from_geojson(value, field, kinds)
    except GeometryError as exc:
        status_code = 422 if exc.code == "invalid_geometry" else 400
        raise ApiError(exc.code, exc.detail, exc.where, status_code) from None


def _versions(data: dict) -> dict[int, int]:
    out = {}
    for key, version in (data.get("versions") or {}).items():
        if not str(key).isdigit():
            raise ApiError(
                "invalid",
                f"versions 的键应为单元 id，收到 '{key}' / versions keys must be unit ids",
                "versions",
            )
        out[int(key)] = version
    return out


class _EditView(APIView):
    required_permissions = ["gridmap.change_gridunit"]
    request_serializer: type[serializers.Serializer] = EditRequest

    def run(self, pk: int, data: dict, common: dict) -> editing.EditResult:
        raise NotImplementedError

    def post(self, request: Request, pk: int) -> Response:
        body = self.request_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        common = {
            "user": request.user,
            "note": data.get("note", ""),
            "preview": data.get("preview", False),
        }
        if "version" in data:
            common["versions"] = _versions(data)
        try:
            result = self.run(pk, data, common)
        except editing.EditError as exc:
            raise ApiError(exc.code, exc.detail, exc.where, exc.status) from None
        return Response(
            result.as_dict(),
            status=status.HTTP_200_OK if result.preview else status.HTTP_201_CREATED,
        )


def _edit_schema(request, summary: str):
    return extend_schema(
        request=request,
        responses={200: EditResultSerializer, 201: EditResultSerializer},
        summary=summary,
        description=f"带 preview=true 为预览（200），否则提交（201）。 / With preview=true a dry run "
        f"(200), else a commit (201). Errors: {_ERRORS}",
    )


class ReshapeView(_EditView):
    """调整边界：相邻单元的公共边随之移动 / move a unit's boundary; shared edges follow."""

    request_serializer = ReshapeRequest

    @_edit_schema(ReshapeRequest, "调整边界 / reshape")
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def run(self, pk, data, common):
        geometry = _geometry(data["geometry"], "geometry", POLYGONAL)
        return editing.reshape(pk, data["version"], geometry, **common)


class SplitView(_EditView):
    """拆分：按一条线把单元分成两块 / cut a unit in two by a line."""

    request_serializer = SplitRequest

    @_edit_schema(SplitRequest, "拆分 / split")
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def run(self, pk, data, common):
        line = _geometry(data["line"], "line", ("LineString",))
        return editing.split(pk, data["version"], line, name=data.get("name"), **common)


class MergeView(_EditView):
    """合并：把相邻的同级单元并入本单元 / merge an adjacent sibling into this unit."""

    request_serializer = MergeRequest

    @_edit_schema(MergeRequest, "合并 / merge")
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def run(self, pk, data, common):
        return editing.merge(pk, data["version"], data["other"], data["other_version"], **common)


class TransferView(_EditView):
    """划转：把画出的区域从所在单元划给本单元 / hand a drawn area to this unit."""

    request_serializer = TransferRequest

    @_edit_schema(TransferRequest, "划转区域 / transfer")
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def run(self, pk, data, common):
        area = _geometry(data["area"], "area", POLYGONAL)
        return editing.transfer(pk, data["version"], area, **common)


class RestoreView(_EditView):
    """恢复历史版本（作为一次经过校验的编辑） / restore an earlier version, as a validated edit."""

    request_serializer = RestoreRequest

    @_edit_schema(RestoreRequest, "恢复版本 / restore")
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def run(self, pk, data, common):
        return editing.restore(pk, data["version"], data["to_version"], **common)


class UndoView(_EditView):
    """撤销一次编辑（其后涉及单元未再修改时） / undo an edit if its units did not change since."""

    request_serializer = UndoRequest

    @_edit_schema(UndoRequest, "撤销编辑 / undo")
    def post(self, request: Request, pk: int) -> Response:
        return super().post(request, pk)

    def run(self, pk, data, common):
        return editing.undo(pk, **common)


# History -------------------------------------------------------------------------------------


def _edit_ref(edit: UnitEdit | None) -> dict | None:
    if edit is None:
        return None
    return {
        "id": edit.pk,
        "operation": edit.operation,
        "operation_label": edit.get_operation_display(),
        "user": edit.username,
        "at": edit.created_at,
        "note": edit.note,
    }


class UnitHistoryView(APIView):
    """单元的全部历史版本 / every version of a unit, oldest first."""

    required_permissions = ["gridmap.view_gridunit"]

    @extend_schema(
        responses=inline_serializer(
            "UnitHistory",
            {
                "unit": serializers.IntegerField(),
                "versions": serializers.ListField(child=serializers.DictField()),
            },
        )
    )
    def get(self, request: Request, pk: int) -> Response:
        versions = list(
            UnitVersion.objects.filter(unit_id=pk)
            .select_related("edit")
            .order_by("valid_from", "id")
        )
        if not versions:
            raise ApiError("not_found", f"单元 {pk} 没有历史 / unit {pk} has no history", "id", 404)
        current = GridUnit.objects.filter(pk=pk).values_list("version", flat=True).first()
        return Response(
            {
                "unit": pk,
                "current_version": current,
                "versions": [
                    {
                        "version": v.version,
                        "code": v.code,
                        "name": v.name,
                        "valid_from": v.valid_from,
                        "valid_to": v.valid_to,
                        "edit": _edit_ref(v.edit),
                        "geometry": to_geojson(to_shapely(v.geom)),
                    }
                    for v in versions
                ],
            }
        )


def _edit_body(edit: UnitEdit, geometries: bool) -> dict:
    body = {
        **_edit_ref(edit),
        "units": edit.changes,
        "reassignment": edit.reassignment,
        "load": edit.load,
        "staff_moved": edit.staff_moved,
        "undoes": edit.undoes_id,
        "undone_by": getattr(getattr(edit, "undone_by", None), "pk", None),
    }
    if geometries:
        # Before = the version the edit started from; after = the version it wrote.
        for row in body["units"]:
            for side, version, code in (
                ("before", row["version_before"], row["code_before"]),
                ("after", row["version_after"], row["code"]),
            ):
                found = (
                    UnitVersion.objects.filter(unit_id=row["id"], version=version, code=code)
                    .order_by("-valid_from")
                    .first()
                    if version
                    else None
                )
                row[f"geometry_{side}"] = to_geojson(to_shapely(found.geom)) if found else None
    return body


class EditListView(APIView):
    """边界调整记录，最新在前 / committed edits, newest first (filter: unit=<id>)."""

    required_permissions = ["gridmap.view_gridunit"]

    @extend_schema(
        operation_id="edits_list",
        parameters=[
            OpenApiParameter("unit", int, description="只看涉及此单元的编辑 / edits of this unit"),
            OpenApiParameter("limit", int, description="最多条数（默认 50，最大 500）"),
        ],
        responses=inline_serializer(
            "EditList", {"results": serializers.ListField(child=serializers.DictField())}
        ),
    )
    def get(self, request: Request) -> Response:
        edits = UnitEdit.objects.select_related("undone_by")
        unit = request.query_params.get("unit")
        if unit is not None:
            if not unit.isdigit():
                raise ApiError("invalid", "unit 应为单元 id / unit must be a unit id", "unit")
            edits = edits.filter(unit_ids__contains=[int(unit)])
        raw = request.query_params.get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= 500:
            raise ApiError("invalid", "limit 应为 1–500 / limit must be 1–500", "limit")
        return Response({"results": [_edit_body(e, False) for e in edits[: int(raw)]]})


class EditDetailView(APIView):
    """一次编辑：谁、何时、操作、前后边界、引起的重新分配 / one edit with before/after."""

    required_permissions = ["gridmap.view_gridunit"]

    @extend_schema(responses=inline_serializer("EditDetail", {"id": serializers.IntegerField()}))
    def get(self, request: Request, pk: int) -> Response:
        edit = get_object_or_404(UnitEdit.objects.select_related("undone_by"), pk=pk)
        return Response(_edit_body(edit, True))
