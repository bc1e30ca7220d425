"""Import API: grid unit boundaries and map layers from an uploaded file. Thin: the work is
layers.exchange.importing; this module takes the multipart form, maps refusals to the error
shape, and answers with the report (200 dry run, 201 committed)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gridmap.api.errors import ApiError
from gridmap.models import GridUnit
from layers.api.views import ERROR
from layers.exchange import importing
from layers.exchange.importing import ImportFileError, ImportOptions, ImportReport

_ERRORS = (
    "400 文件无法使用 / the file cannot be used (broken_zip, missing_crs, field_not_found, "
    "unknown_crs, encoding_mismatch, unsupported_format, …); 403 无权导入 / your role may not "
    "import this; 413 文件过大 / file too large; 422 有错误，未导入 / errors, nothing imported "
    "(import_refused; `where` holds the report)"
)


class ImportRequest(serializers.Serializer):
    file = serializers.FileField(
        help_text="GeoJSON、GeoPackage、Shapefile（.zip）/ GeoJSON, GeoPackage or zipped Shapefile"
    )
    crs = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="坐标系，空为文件自带 / CRS, empty: the file's own — EPSG:4326, EPSG:4490, "
        "EPSG:3857, EPSG:4498 (CGCS2000 Gauss–Krüger), gcj02, bd09",
    )
    encoding = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="属性文字编码 / attribute encoding (gbk, utf-8); empty: .cpg, else detected",
    )
    layer = serializers.CharField(
        required=False, allow_blank=True, help_text="GeoPackage 图层 / GeoPackage layer"
    )
    code_field = serializers.CharField(required=False, allow_blank=True)
    name_field = serializers.CharField(required=False, allow_blank=True)
    fix_invalid = serializers.BooleanField(
        default=False, help_text="修复无效几何 / repair invalid polygons (make-valid)"
    )
    commit = serializers.BooleanField(
        default=False, help_text="写入；否则只预演 / write; otherwise a dry run"
    )


class UnitImportRequest(ImportRequest):
    level = serializers.ChoiceField(
        choices=GridUnit.Level.values,
        required=False,
        allow_blank=True,
        help_text="层级，空为按编码长度 / level; empty: from each code's length",
    )
    parent_field = serializers.CharField(required=False, allow_blank=True)


class LayerImportRequest(ImportRequest):
    fields = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="字段映射 / field mapping, e.g. road=路名,number=门牌号",
    )
    lon_field = serializers.CharField(required=False, allow_blank=True)
    lat_field = serializers.CharField(required=False, allow_blank=True)
    address_field = serializers.CharField(required=False, allow_blank=True)


ImportReportSerializer = inline_serializer(
    "ImportReport",
    {
        "kind": serializers.CharField(),
        "level": serializers.CharField(allow_null=True),
        "file": serializers.DictField(),
        "encoding": serializers.DictField(allow_null=True),
        "crs": serializers.DictField(),
        "fields": serializers.DictField(),
        "commit": serializers.BooleanField(),
        "committed": serializers.BooleanField(),
        "ok": serializers.BooleanField(),
        "counts": serializers.DictField(child=serializers.IntegerField()),
        "items": serializers.ListField(child=serializers.DictField()),
        "problems": serializers.ListField(
            child=serializers.DictField(),
            help_text="{feature, code, error, detail, point: [lon, lat], severity}",
        ),
        "fixed": serializers.ListField(child=serializers.DictField()),
        "topology": serializers.ListField(child=serializers.DictField()),
        "reassignment": serializers.DictField(),
        "notes": serializers.ListField(child=serializers.CharField()),
    },
)


def _schema(request: type[serializers.Serializer], summary: str, **kw):
    return extend_schema(
        request={"multipart/form-data": request},
        responses={
            200: ImportReportSerializer,
            201: ImportReportSerializer,
            400: ERROR,
            422: ERROR,
        },
        summary=summary,
        description="commit=false（缺省）预演，返回报告（200）；commit=true 导入（201），有错误则"
        f"不写入任何内容。 / commit=false (default) is a dry run answering the report (200); "
        f"commit=true imports (201), and nothing at all when there is an error. Errors: {_ERRORS}",
        **kw,
    )


def _text(data: dict, name: str) -> str | None:
    return (data.get(name) or "").strip() or None


class _ImportView(APIView):
    parser_classes = [MultiPartParser, FormParser]
    request_serializer: type[ImportRequest] = ImportRequest

    def run(self, path: Path, name: str, data: dict) -> ImportReport:
        raise NotImplementedError

    def options(self, data: dict, fields: dict[str, str]) -> ImportOptions:
        given = {"code": _text(data, "code_field"), "name": _text(data, "name_field"), **fields}
        return ImportOptions(
            crs=_text(data, "crs"),
            encoding=_text(data, "encoding"),
            layer=_text(data, "layer"),
            fields={k: v for k, v in given.items() if v},
            lon_field=_text(data, "lon_field"),
            lat_field=_text(data, "lat_field"),
            address_field=_text(data, "address_field"),
            fix_invalid=data["fix_invalid"],
            commit=data["commit"],
        )

    def post(self, request: Request, **kwargs) -> Response:
        body = self.request_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        upload = data["file"]
        if upload.size > importing.MAX_FILE_BYTES:
            mb = importing.MAX_FILE_BYTES // (1024 * 1024)
            raise ApiError(
                "file_too_large", f"文件超过 {mb} MB / the file is larger than {mb} MB", "file", 413
            )
        name = Path(upload.name or "upload").name
        with tempfile.TemporaryDirectory() as tmp:
            # Saved under its own suffix: the suffix says how to read it.
            path = Path(tmp) / f"upload{Path(name).suffix.lower()}"
            with path.open("wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            try:
                report = self.run(path, name, data)
            except ImportFileError as exc:
                raise ApiError(exc.code, exc.detail, exc.where) from None
        if data["commit"] and not report.committed:
            raise ApiError(
                "import_refused",
                f"发现 {report.errors} 个错误，未导入任何内容 / {report.errors} errors: nothing "
                "was imported",
                report.as_dict(),
                422,
            )
        return Response(report.as_dict(), status=201 if report.committed else 200)


class UnitImportView(_ImportView):
    """导入网格边界 / import grid unit boundaries (planners)."""

    required_permissions = ["gridmap.add_gridunit", "gridmap.change_gridunit"]
    request_serializer = UnitImportRequest

    @_schema(UnitImportRequest, "导入网格边界 / import grid units", operation_id="import_units")
    def post(self, request: Request, **kwargs) -> Response:
        return super().post(request, **kwargs)

    def run(self, path: Path, name: str, data: dict) -> ImportReport:
        parent = _text(data, "parent_field")
        options = self.options(data, {"parent_code": parent} if parent else {})
        return importing.import_units(path, data.get("level") or None, options, file_name=name)


class LayerImportView(_ImportView):
    """导入图层要素 / import a map layer: needs the add and change permissions of its model."""

    request_serializer = LayerImportRequest

    @property
    def required_permissions(self) -> list[str]:
        spec = importing.LAYERS.get(self.kwargs.get("layer"))
        # An unknown layer needs no permission to be told so (404).
        return spec.permissions if spec else []

    @_schema(
        LayerImportRequest,
        "导入图层 / import a map layer",
        operation_id="import_layer",
        parameters=[OpenApiParameter("layer", str, "path", enum=list(importing.LAYERS))],
    )
    def post(self, request: Request, **kwargs) -> Response:
        if kwargs["layer"] not in importing.LAYERS:
            names = ", ".join(importing.LAYERS)
            raise ApiError(
                "unknown_layer",
                f"未知图层 '{kwargs['layer']}'，可用：{names} / unknown layer; use one of: {names}",
                "layer",
                404,
            )
        return super().post(request, **kwargs)

    def run(self, path: Path, name: str, data: dict) -> ImportReport:
        fields = importing.parse_mapping(p for p in (data.get("fields") or "").split(",") if p)
        options = self.options(data, fields)
        return importing.import_layer(
            self.kwargs["layer"], path, options, file_name=name, user=self.request.user
        )
