"""The audit log (审计日志): every read of private fields and every change of the rows that hold
them, as one entry per request for a set of rows — who, when, which rows, which fields, through
what. Field names only, never their values. docs/privacy.md says what is logged where."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models
from django.http import HttpRequest
from rest_framework.request import Request

from gridmap.models import AuditEntry

Action = AuditEntry.Action

# A request (Django's or DRF's), whose path, address and request id are logged, or a word for a
# call outside a request: "import", "command".
Via = HttpRequest | Request | str

# A request's channel by the first segment of its path; anything else is a page.
_CHANNELS = {"api": "api", "admin": "admin", "ogc": "ogc", "tiles": "tiles"}
_MAX_VIA = AuditEntry._meta.get_field("via").max_length
_MAX_REQUEST_ID = AuditEntry._meta.get_field("request_id").max_length


def _label(model: type[models.Model] | str) -> str:
    return model if isinstance(model, str) else model._meta.label_lower


def _source(via: Via) -> dict[str, Any]:
    """The entry's via, remote_addr and request_id. Only the path of a request: its query
    string may carry what was searched for (a name typed into the admin's search box)."""
    if isinstance(via, str):
        return {"via": via[:_MAX_VIA]}
    path = via.path
    channel = _CHANNELS.get(path.strip("/").split("/", 1)[0], "page")
    return {
        "via": f"{channel}:{path}"[:_MAX_VIA],
        "remote_addr": via.META.get("REMOTE_ADDR") or None,
        "request_id": via.headers.get("X-Request-ID", "")[:_MAX_REQUEST_ID],
    }


def _log(
    user: Any,
    action: str,
    model: type[models.Model] | str,
    ids: Iterable[int],
    fields: Iterable[str],
    via: Via,
) -> AuditEntry | None:
    object_ids = sorted(set(ids))
    if not object_ids:
        return None
    signed_in = user is not None and user.is_authenticated
    return AuditEntry.objects.create(
        user=user if signed_in else None,
        username=user.get_username() if signed_in else "",
        action=action,
        model=_label(model),
        object_ids=object_ids,
        count=len(object_ids),
        fields=list(dict.fromkeys(fields)),
        **_source(via),
    )


def log_read(
    user: Any, model: type[models.Model] | str, ids: Iterable[int], fields: Iterable[str], via: Via
) -> AuditEntry | None:
    """Log that `user` was shown `fields` of the rows `ids` of `model` (a field of a related row
    shown with them as "visits.note"). Nothing is logged when no row was shown."""
    return _log(user, Action.READ_PRIVATE, model, ids, fields, via)


def log_change(
    user: Any,
    action: str,
    model: type[models.Model] | str,
    ids: Iterable[int],
    fields: Iterable[str],
    via: Via,
) -> AuditEntry | None:
    """Log that `user` created, changed or deleted (`action`, an AuditEntry.Action) the rows
    `ids` of `model`, naming the `fields` written. Call it in the transaction of the change, so
    a change rolled back leaves no entry."""
    return _log(user, action, model, ids, fields, via)
