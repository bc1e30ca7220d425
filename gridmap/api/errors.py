"""The API's one error shape: {"error": code, "detail": "中文 / English", "where": …}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

# Bilingual texts for DRF's own exceptions, by their default code.
_TEXTS = {
    "not_authenticated": "需要登录或访问令牌 / authentication credentials were not provided",
    "authentication_failed": "登录信息或令牌无效 / invalid credentials or token",
    "permission_denied": "当前角色无权执行此操作 / your role may not do this",
    "not_found": "未找到 / not found",
    "method_not_allowed": "不支持该请求方法 / method not allowed",
    "throttled": "请求过于频繁 / too many requests",
    "parse_error": "请求内容无法解析 / malformed request body",
    "unsupported_media_type": "不支持的内容类型 / unsupported media type",
}


class ApiError(exceptions.APIException):
    """An error the API reports on purpose: a code, a bilingual text, and where it is."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, code: str, detail: str, where: Any = None, status_code: int = 400):
        super().__init__(detail=detail, code=code)
        self.error_code = code
        self.where = where
        self.status_code = status_code


def error_body(code: str, detail: str, where: Any = None) -> dict[str, Any]:
    return {"error": code, "detail": detail, "where": where}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ApiError):
        return Response(
            error_body(exc.error_code, str(exc.detail), exc.where), status=exc.status_code
        )
    # DRF turns Django's own Http404 and PermissionDenied into its exceptions; do it first so
    # the code below sees one kind.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        first_field = next(iter(fields))
        response.data = error_body(
            "invalid", f"参数 {first_field} 的值无效 / invalid value for {first_field}", first_field
        )
        return response
    codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    code = codes if isinstance(codes, str) else "error"
    response.data = error_body(code, _TEXTS.get(code, str(getattr(exc, "detail", exc))))
    return response
