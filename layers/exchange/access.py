"""Who may read a published layer through export, OGC API and tiles (数据交换的访问控制):
- a platform token (`Authorization: Bearer <key>` or `?token=<key>`) whose scope names the layer,
  within its requests per minute;
- a logged-in user (session, or a user token `Authorization: Token <key>`) with the view
  permission of the layer's model — the map pages read tiles this way;
- anyone, for a layer switched to anonymous access in the admin (off by default), within
  `GRIDMAP_ANONYMOUS_REQUESTS_PER_MINUTE` per client address.
A token that is sent but wrong is refused even on an anonymous layer: the caller should know.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from gridmap.api.authentication import FastTokenAuthentication
from layers.exchange.catalogue import Layer
from layers.models import LayerPublication, PlatformToken

# last_used_at is written at most this often per token, not on every tile.
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass
class Denied(Exception):
    error: str
    detail: str
    status: int
    retry_after: int | None = None

    def response(self) -> HttpResponse:
        body = {"error": self.error, "detail": self.detail, "where": "token"}
        response = HttpResponse(
            json.dumps(body, ensure_ascii=False),
            status=self.status,
            content_type="application/json; charset=utf-8",
        )
        if self.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="gridmap"'
        if self.retry_after:
            response["Retry-After"] = str(self.retry_after)
        return response


@dataclass(frozen=True)
class Reader:
    """Who is reading: a token, a user, or anonymous. `query` is what links must carry on."""

    kind: str  # "token", "user", "anonymous"
    token: PlatformToken | None = None

    @property
    def query(self) -> dict[str, str]:
        # A token sent in the query string must be in the next page's link too (GDAL, QGIS).
        return {"token": self.token.key} if self.token and self._in_query else {}

    _in_query: bool = False


def _token_key(request: HttpRequest) -> tuple[str | None, bool]:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip(), False
    key = request.GET.get("token")
    return (key, True) if key else (None, False)


def _rate_limit(bucket: str, per_minute: int) -> None:
    now = timezone.now()
    key = f"exchange-rate:{bucket}:{now:%Y%m%d%H%M}"
    cache.add(key, 0, timeout=90)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=90)
        count = 1
    if count > per_minute:
        raise Denied(
            "rate_limited",
            f"请求过于频繁：每分钟最多 {per_minute} 次 / too many requests: at most "
            f"{per_minute} a minute",
            429,
            retry_after=60 - now.second,
        )


def _user(request: HttpRequest):
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    header = request.headers.get("Authorization", "")
    if header.startswith("Token "):
        try:
            user, _ = FastTokenAuthentication().authenticate_credentials(header[6:].strip())
        except AuthenticationFailed as err:
            raise Denied("authentication_failed", str(err.detail), 401) from None
        return user
    return None


def _anonymous_layers() -> set[str]:
    return set(LayerPublication.objects.filter(anonymous=True).values_list("layer", flat=True))


def authorize(request: HttpRequest, layer: Layer, count: bool = True) -> Reader:
    """The reader of `layer` in this request, or Denied (401, 403 or 429). `count`: the request
    counts against the rate limit (not when a landing page only asks what may be read)."""
    key, in_query = _token_key(request)
    if key:
        token = PlatformToken.objects.filter(key=key, revoked_at__isnull=True).first()
        if token is None:
            raise Denied(
                "authentication_failed", "令牌无效或已吊销 / invalid or revoked token", 401
            )
        if layer.name not in token.layers:
            raise Denied(
                "permission_denied",
                f"此令牌不能读取图层 {layer.name} / this token may not read {layer.name}",
                403,
            )
        if count:
            _rate_limit(f"token:{token.pk}", token.requests_per_minute)
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > _TOUCH_EVERY:
            PlatformToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return Reader("token", token, in_query)
    user = _user(request)
    if user is not None:
        if not user.has_perm(layer.permission):
            raise Denied("permission_denied", "没有权限 / permission denied", 403)
        return Reader("user")
    if layer.name in _anonymous_layers():
        if count:
            _rate_limit(f"ip:{request.META.get('REMOTE_ADDR', '')}", anonymous_rate())
        return Reader("anonymous")
    raise Denied("not_authenticated", "需要登录或令牌 / login or token required", 401)


def anonymous_rate() -> int:
    return settings.GRIDMAP_ANONYMOUS_REQUESTS_PER_MINUTE


def readable_layers(request: HttpRequest, layers: list[Layer]) -> list[Layer]:
    """The layers this request may read (for landing pages and collection lists)."""
    readable = []
    for layer in layers:
        try:
            authorize(request, layer, count=False)
        except Denied:
            continue
        readable.append(layer)
    return readable
