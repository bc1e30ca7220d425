"""The case workflow (案件办理流程): one state machine whose transitions are data, the escalation of
a case up the grid levels, and the sweep of overdue cases into backlog. Every change of a case's
status or level goes through here and is logged as an IncidentTransition (its timeline).

The cycle of CJ/T 214 / GB/T 30428.2 — 信息采集 → 案卷建立 (立案 or 作废) → 任务派遣 → 任务处理 →
处理反馈 → 核查结案 → 综合评价 — merged with the seed's accept → verify → (extend) → assign →
handle → evaluate → close: see TRANSITIONS, and docs/dispatch.md for the same table in prose.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone

from gridmap.models import GridUnit, StaffMember
from layers.models import Incident, IncidentTransition
from layers.services import photos
from layers.services.deadlines import deadline_for

S = Incident.Status
A = IncidentTransition.Action
L = GridUnit.Level

# The levels a case climbs when escalated: grid → community → street → district.
ESCALATION = (L.GRID, L.NODE, L.SEGMENT, L.NETWORK)
# How many hours one extension may add at most (30 days).
MAX_EXTENSION_HOURS = 720

User = AbstractBaseUser | AnonymousUser | None


class Who(StrEnum):
    """Who may take an action."""

    # 调度员: the dispatcher role (precisely: layers.change_incident, which only it holds).
    DISPATCHER = "dispatcher"
    # A dispatcher, or the staff of the unit holding the case: the case's grid at level grid,
    # the grid's community (node) at level node.
    RESPONSIBLE = "responsible"


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    target: str | None  # None: the status stays (an extension)
    who: Who
    needs_note: bool = False
    # Keyword data the action takes, and which of it is required.
    takes: frozenset[str] = frozenset()
    requires: frozenset[str] = frozenset()


def _t(sources, target, who, *, needs_note=False, takes=(), requires=()) -> Transition:
    return Transition(
        frozenset(sources), target, who, needs_note, frozenset(takes), frozenset(requires)
    )


# action → (from statuses, to status, who may take it). The one definition of the workflow.
TRANSITIONS: dict[str, Transition] = {
    A.VERIFY: _t({S.RECEIVED}, S.VERIFIED, Who.RESPONSIBLE),  # 立案
    A.CANCEL: _t({S.RECEIVED, S.VERIFIED}, S.CANCELLED, Who.DISPATCHER, needs_note=True),  # 作废
    A.DISPATCH: _t({S.VERIFIED}, S.DISPATCHED, Who.DISPATCHER, takes={"department"}),  # 派遣
    A.START: _t({S.DISPATCHED}, S.HANDLING, Who.RESPONSIBLE),  # 开始处理
    A.FEEDBACK: _t({S.HANDLING, S.BACKLOG}, S.FEEDBACK, Who.RESPONSIBLE),  # 处理反馈
    A.CLOSE: _t({S.FEEDBACK}, S.CLOSED, Who.DISPATCHER),  # 核查结案
    # 核查不通过: the check failed, the case goes back out with a new deadline.
    A.SEND_BACK: _t(
        {S.FEEDBACK}, S.DISPATCHED, Who.DISPATCHER, needs_note=True, takes={"department"}
    ),
    A.RATE: _t({S.CLOSED}, S.RATED, Who.DISPATCHER, takes={"rating"}, requires={"rating"}),
    A.EXTEND: _t(  # 延期
        {S.DISPATCHED, S.HANDLING, S.BACKLOG},
        None,
        Who.RESPONSIBLE,
        needs_note=True,
        takes={"hours"},
        requires={"hours"},
    ),
    # 挂账: the sweep does it when a case is overdue; a dispatcher may do it by hand.
    A.BACKLOG: _t({S.DISPATCHED, S.HANDLING}, S.BACKLOG, Who.DISPATCHER),
    A.RESUME: _t({S.BACKLOG}, S.HANDLING, Who.RESPONSIBLE),  # 恢复处理
}


class WorkflowError(Exception):
    """A refused action: a code, a bilingual detail, where, and the HTTP status it means.

    409 illegal_transition (the case's status or level does not allow it; `where` carries the
    status and the actions the user may take), 403 not_permitted, 400 for missing or bad data.
    """

    def __init__(self, code: str, detail: str, where: Any = None, status: int = 400):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.where = where
        self.status = status


# --- who may do what --------------------------------------------------------------------------


def is_dispatcher(user: User) -> bool:
    return bool(user and user.is_authenticated and user.has_perm("layers.change_incident"))


def is_responsible(incident: Incident, user: User) -> bool:
    """Whether `user` is on the staff of the unit holding the case (grid or node level)."""
    if not (user and user.is_authenticated) or incident.grid_id is None:
        return False
    posts = StaffMember.objects.filter(user=user)
    if incident.level == L.GRID:
        return posts.filter(unit_id=incident.grid_id).exists()
    if incident.level == L.NODE:
        return posts.filter(unit__children=incident.grid_id).exists()
    return False


@dataclass(frozen=True)
class _Actor:
    dispatcher: bool
    responsible: bool

    def may(self, who: Who) -> bool:
        return self.dispatcher or (who == Who.RESPONSIBLE and self.responsible)


def _actor(incident: Incident, user: User) -> _Actor:
    dispatcher = is_dispatcher(user)
    return _Actor(dispatcher, not dispatcher and is_responsible(incident, user))


def _can_escalate(incident: Incident) -> bool:
    return incident.is_open and incident.level != L.NETWORK


def allowed_actions(incident: Incident, user: User) -> list[str]:
    """The actions `user` may take on the case now, in the order of TRANSITIONS, then
    "escalate" if it may be escalated by them."""
    actor = _actor(incident, user)
    actions = [
        action
        for action, t in TRANSITIONS.items()
        if incident.status in t.sources and actor.may(t.who)
    ]
    if _can_escalate(incident) and actor.may(Who.RESPONSIBLE):
        actions.append(A.ESCALATE)
    return [str(a) for a in actions]


# --- changing a case --------------------------------------------------------------------------


def _illegal(incident: Incident, user: User, detail: str) -> WorkflowError:
    return WorkflowError(
        "illegal_transition",
        detail,
        {"status": incident.status, "allowed": allowed_actions(incident, user)},
        409,
    )


def _not_permitted(action: str, incident: Incident) -> WorkflowError:
    return WorkflowError(
        "not_permitted",
        f"无权执行 {action}（事件当前处置层级：{incident.level}） / you may not {action} a case "
        f"held at level {incident.level}",
        {"action": action, "level": incident.level},
        403,
    )


def _locked(incident: Incident) -> Incident:
    """The case as it is in the database, locked until the transaction ends, so two people
    acting at once see each other's result instead of overwriting it."""
    return Incident.objects.select_for_update().get(pk=incident.pk)


def _username(user: User) -> str:
    return user.get_username() if user and user.is_authenticated else ""


def _checked_photo(photo: UploadedFile | None) -> UploadedFile | None:
    try:
        return photos.checked_photo(photo) if photo else None
    except photos.PhotoError as exc:
        raise WorkflowError(exc.code, str(exc), "photo") from None


def _log(
    case: Incident,
    action: str,
    user: User,
    now: dt.datetime,
    *,
    from_status: str,
    from_level: str,
    note: str = "",
    photo: UploadedFile | None = None,
    data: dict | None = None,
) -> IncidentTransition:
    return IncidentTransition.objects.create(
        incident=case,
        action=action,
        from_status=from_status,
        to_status=case.status,
        from_level=from_level,
        to_level=case.level,
        user=user if user and user.is_authenticated else None,
        username=_username(user),
        at=now,
        note=note,
        photo=photo or "",
        data=data or {},
    )


def _write(incident: Incident, case: Incident, changes: dict, now: dt.datetime) -> None:
    """Store `changes` (without assigning the case again, as save() would) and show them on
    both the locked copy and the caller's instance."""
    changes["updated_at"] = now
    Incident.objects.filter(pk=case.pk).update(**changes)
    for obj in (case, incident):
        for field, value in changes.items():
            setattr(obj, field, value)


def _checked_data(action: str, t: Transition, note: str, data: dict) -> dict:
    given = {k: v for k, v in data.items() if v is not None and v != ""}
    unexpected = sorted(set(given) - t.takes)
    if unexpected:
        name = unexpected[0]
        raise WorkflowError(
            "unexpected_parameter",
            f"操作 {action} 不接受参数 {name} / action {action} takes no {name}",
            name,
        )
    missing = sorted(t.requires - set(given))
    if missing:
        name = missing[0]
        raise WorkflowError(
            "missing_parameter",
            f"操作 {action} 需要参数 {name} / action {action} needs {name}",
            name,
        )
    if t.needs_note and not note.strip():
        raise WorkflowError(
            "missing_parameter",
            f"操作 {action} 需要说明理由 / action {action} needs a note giving the reason",
            "note",
        )
    if "hours" in given and not (
        isinstance(given["hours"], int) and 1 <= given["hours"] <= MAX_EXTENSION_HOURS
    ):
        raise WorkflowError(
            "invalid_hours",
            f"延期小时数应为 1 到 {MAX_EXTENSION_HOURS} 的整数 / hours must be an integer from 1 "
            f"to {MAX_EXTENSION_HOURS}",
            "hours",
        )
    if "rating" in given and not (isinstance(given["rating"], int) and 1 <= given["rating"] <= 5):
        raise WorkflowError(
            "invalid_rating",
            "评价应为 1 到 5 的整数 / rating must be an integer from 1 to 5",
            "rating",
        )
    if "department" in given and len(str(given["department"])) > 100:
        raise WorkflowError(
            "invalid_department",
            "承办部门名称不能超过 100 字 / department must not exceed 100 characters",
            "department",
        )
    return given


def apply(
    incident: Incident,
    action: str,
    user: User,
    note: str = "",
    *,
    photo: UploadedFile | None = None,
    now: dt.datetime | None = None,
    **data: Any,
) -> IncidentTransition:
    """Take `action` on the case as `user`, log it and return the log entry.

    `data`: department (dispatch, send_back), hours (extend), rating (rate). Raises
    WorkflowError. `now` is for tests and replays; the default is the current time.
    """
    t = TRANSITIONS.get(action)
    if t is None:
        known = ", ".join(TRANSITIONS)
        raise WorkflowError(
            "unknown_action",
            f"未知操作 '{action}'，可用：{known} / unknown action '{action}'; use one of: {known}",
            "action",
        )
    now = now or timezone.now()
    with transaction.atomic():
        case = _locked(incident)
        if case.status not in t.sources:
            raise _illegal(
                case,
                user,
                f"状态为「{case.get_status_display()}」的事件不能执行 {action} / a case in status "
                f"{case.status} does not allow {action}",
            )
        if not _actor(case, user).may(t.who):
            raise _not_permitted(action, case)
        given = _checked_data(action, t, note, data)
        photo = _checked_photo(photo)

        from_status, from_level = case.status, case.level
        changes: dict[str, Any] = {}
        if t.target is not None:
            changes["status"] = t.target
        # A backlogged case resumed past its deadline gets a fresh one: with the old one the next
        # sweep would put it straight back in the backlog. A deadline still ahead is kept.
        overdue = case.deadline is None or case.deadline <= now
        if action in (A.DISPATCH, A.SEND_BACK) or (action == A.RESUME and overdue):
            changes["deadline"] = deadline_for(case.category, now)
            if "department" in given:
                changes["department"] = str(given["department"]).strip()
        elif action == A.EXTEND:
            given["deadline_before"] = case.deadline.isoformat() if case.deadline else None
            changes["deadline"] = (case.deadline or now) + dt.timedelta(hours=given["hours"])
        elif action == A.CLOSE:
            changes["closed_at"] = now
        elif action == A.RATE:
            changes["rating"] = given["rating"]
        if "deadline" in changes:
            given["deadline"] = changes["deadline"].isoformat()
        _write(incident, case, changes, now)
        return _log(
            case,
            action,
            user,
            now,
            from_status=from_status,
            from_level=from_level,
            note=note.strip(),
            photo=photo,
            data=given,
        )


def escalate(
    incident: Incident, user: User, reason: str, *, now: dt.datetime | None = None
) -> IncidentTransition:
    """Hand the case one level up (grid → node → segment → network), with a reason."""
    now = now or timezone.now()
    with transaction.atomic():
        case = _locked(incident)
        if not case.is_open:
            raise _illegal(
                case,
                user,
                f"已结束的事件不能上报 / a case in status {case.status} cannot be escalated",
            )
        if case.level == L.NETWORK:
            raise _illegal(
                case,
                user,
                "事件已在最高层级（网域） / the case is already held at the top level (network)",
            )
        if not _actor(case, user).may(Who.RESPONSIBLE):
            raise _not_permitted(A.ESCALATE, case)
        if not reason.strip():
            raise WorkflowError(
                "missing_parameter", "上报需要说明理由 / escalation needs a reason", "reason"
            )
        from_level = case.level
        _write(incident, case, {"level": ESCALATION[ESCALATION.index(case.level) + 1]}, now)
        return _log(
            case,
            A.ESCALATE,
            user,
            now,
            from_status=case.status,
            from_level=from_level,
            note=reason.strip(),
        )


def add_report(
    incident: Incident,
    user: User,
    note: str = "",
    *,
    photo: UploadedFile | None = None,
    now: dt.datetime | None = None,
) -> IncidentTransition:
    """A duplicate report of an open case: logged on its timeline, its status unchanged."""
    now = now or timezone.now()
    with transaction.atomic():
        case = _locked(incident)
        if not case.is_open:
            raise _illegal(
                case,
                user,
                f"事件已结束（{case.get_status_display()}），请新建事件 / the case is finished "
                f"({case.status}); open a new one",
            )
        photo = _checked_photo(photo)
        return _log(
            case,
            A.REPORT,
            user,
            now,
            from_status=case.status,
            from_level=case.level,
            note=note.strip(),
            photo=photo,
        )


def open_case(
    incident: Incident, user: User, *, now: dt.datetime | None = None
) -> IncidentTransition:
    """Save a new case (assigned to its grid on save) and start its timeline (受理)."""
    now = now or timezone.now()
    with transaction.atomic():
        incident.status, incident.level = S.RECEIVED, L.GRID
        incident.save()
        return _log(incident, A.OPEN, user, now, from_status="", from_level="")


# --- the overdue sweep ------------------------------------------------------------------------

SWEEP_NOTE = "超过处置时限，自动挂账 / past its deadline, moved to backlog by the sweep"


def sweep_backlog(now: dt.datetime | None = None, *, dry_run: bool = False) -> dict[str, int]:
    """Move every overdue dispatched or handling case to backlog (挂账), logged as done by the
    system (no user). One statement: the UPDATE and the INSERT of the log rows are CTEs.

    Returns the number of cases moved, by the status they left.
    """
    params = {
        "now": now or timezone.now(),
        "sources": list(TRANSITIONS[A.BACKLOG].sources),
        "backlog": S.BACKLOG,
        "action": A.BACKLOG,
        "note": SWEEP_NOTE,
    }
    incidents = Incident._meta.db_table
    due = f"""
        SELECT id, status, level, deadline FROM {incidents}
         WHERE status = ANY(%(sources)s) AND deadline < %(now)s
    """
    if dry_run:
        sql = f"SELECT status, count(*) FROM ({due}) due GROUP BY status"
    else:
        sql = f"""
        WITH due AS ({due} FOR UPDATE),
        moved AS (
            UPDATE {incidents} t SET status = %(backlog)s, updated_at = %(now)s
              FROM due WHERE t.id = due.id
            RETURNING t.id, due.status AS from_status, due.level, due.deadline
        ),
        logged AS (
            INSERT INTO {IncidentTransition._meta.db_table}
                   (incident_id, action, from_status, to_status, from_level, to_level,
                    user_id, username, at, note, photo, data)
            SELECT id, %(action)s, from_status, %(backlog)s, level, level,
                   NULL, '', %(now)s, %(note)s, '', jsonb_build_object('deadline', deadline)
              FROM moved
            RETURNING from_status
        )
        SELECT from_status, count(*) FROM logged GROUP BY from_status
        """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(sorted(cursor.fetchall()))
