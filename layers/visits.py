"""Household visits by the five colours (五色走访): the visit schedule of each colour, which
households are due or overdue on a day and the workload the colours create, recording visits and
changing a household's colour, and who may see and do what. docs/visits.md has it in prose.

The schedule is calendar-based, in Asia/Shanghai (settings.TIME_ZONE): each colour has a period
(day, ISO week, half month, month, quarter) and every period owes one visit. Whatever day of the
period the visit falls on, the next one is owed in the next period; so a monthly household
visited on 3 January and on 28 February was visited on time, and one visited on 31 January and
on 1 March was not (February passed without a visit).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridmap import audit
from gridmap.models import GridUnit, StaffMember
from layers.models import Building, ColorChange, ColorPolicy, Household, Visit
from layers.services import photos
from layers.services.dispatch import may_see_personal_data

C = Household.Color
P = ColorPolicy.Period
R = StaffMember.Role

User = AbstractBaseUser | AnonymousUser | None

# Reading households and their visits; acting on them (recording visits, changing colours), which
# is also what binds a user to the grids of their staff posts (grids_visible_to).
READ_PERMISSION = "layers.view_household"
ACT_PERMISSION = "layers.change_household"

# A visit may be recorded after the fact, never ahead of time; this much clock skew is allowed.
FUTURE_TOLERANCE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Schedule:
    period: str  # ColorPolicy.Period
    role: str  # StaffMember.Role: who is responsible for the visits


# The default schedule of each colour (seed 004, Limin community), most urgent colour first; a
# district changes it in the admin (ColorPolicy). The seed's visitors mapped to staff roles:
# community leaders → community lead; grid leaders and partner units → grid leader; grid members
# and committee members → full-time grid worker; party members, volunteers, building and unit
# leaders → part-time grid member.
DEFAULT_SCHEDULE: dict[str, Schedule] = {
    C.RED: Schedule(P.DAY, R.COMMUNITY_LEAD),
    C.ORANGE: Schedule(P.WEEK, R.GRID_LEADER),
    C.YELLOW: Schedule(P.HALF_MONTH, R.FULL_TIME_WORKER),
    C.BLUE: Schedule(P.MONTH, R.PART_TIME_MEMBER),
    C.GREEN: Schedule(P.QUARTER, R.PART_TIME_MEMBER),
}


def visits_per_month(period: str, days_in_month: int) -> float:
    """The visits one household of `period` owes in a month of `days_in_month` days: the
    workload its colour creates (a week counts as 7 days of the month, a quarter as 3 months)."""
    return {
        P.DAY: float(days_in_month),
        P.WEEK: days_in_month / 7,
        P.HALF_MONTH: 2.0,
        P.MONTH: 1.0,
        P.QUARTER: 1 / 3,
    }[period]


class Status(models.TextChoices):
    """Where a household stands on a day (走访状态), most urgent first."""

    OVERDUE = "overdue", _("逾期")  # a period ended without its visit
    DUE_TODAY = "due_today", _("今日到期")  # the period owing a visit ends today
    DUE = "due", _("待走访")  # the current period owes a visit, due by its last day
    FINE = "fine", _("已走访")  # the current period's visit is done; the next is owed later


class VisitError(Exception):
    """A refused request: a code, a bilingual detail, where, and the HTTP status it means."""

    def __init__(self, code: str, detail: str, where: Any = None, status: int = 400):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.where = where
        self.status = status


# --- who may see and do what: the one row-level rule ---------------------------------------------


def grids_visible_to(user: User) -> frozenset[int] | None:
    """The ids of the grids whose households (and their visits) `user` may see; None: every grid.

    Grid staff are bound to their posts: a user holding layers.change_household (the grid
    worker's role, which also shows personal data) sees the grids of their StaffMember posts —
    a post at a grid that grid, a community lead's post at a node every grid of it, and so on up
    the levels — and nothing without a post. Everyone else (planner, dispatcher, viewer) sees
    every grid as far as their model permissions go: the household list needs
    layers.view_household, the counts gridmap.view_gridunit. A superuser sees every grid.
    """
    if user is None or not user.is_authenticated:
        return frozenset()
    if user.is_superuser or not user.has_perm(ACT_PERMISSION):
        return None
    codes = StaffMember.objects.filter(user=user).values_list("unit__code", flat=True)
    posts = Q(pk__in=[])
    for code in codes:
        posts |= Q(code__startswith=code)
    return frozenset(GridUnit.objects.grids().filter(posts).values_list("id", flat=True))


def _not_permitted(detail: str, where: Any) -> VisitError:
    return VisitError("not_permitted", detail, where, 403)


def visible_grid_ids(user: User, unit: GridUnit) -> list[int]:
    """The grids of `unit`, lowest code first, if `user` may see every one of them; else 403."""
    grid_ids = list(GridUnit.objects.grids_of(unit).order_by("code").values_list("id", flat=True))
    visible = grids_visible_to(user)
    if visible is not None and not set(grid_ids) <= visible:
        raise _not_permitted(
            f"无权查看 {unit.code} 的住户走访 / you may not see the visits of unit {unit.code}: "
            "grid staff see only the grids of their posts",
            unit.level,
        )
    return grid_ids


def may_see(user: User, household: Household) -> bool:
    """Whether `user` may see `household` and its visits (with layers.view_household)."""
    visible = grids_visible_to(user)
    return visible is None or household.grid_id in visible


def may_act(user: User, household: Household) -> bool:
    """Whether `user` may record a visit to `household` or change its colour: grid staff (with
    layers.change_household) at its grid or above, or a superuser."""
    return bool(user and user.has_perm(ACT_PERMISSION)) and may_see(user, household)


def may_see_private(user: User) -> bool:
    """Personal data (Household.PRIVATE_FIELDS, and what a visit or class change records about
    the household: notes, photos, reasons) needs layers.change_household, as everywhere."""
    return may_see_personal_data(user)


def check_may_see(user: User, household: Household) -> None:
    if not may_see(user, household):
        raise _not_permitted(
            f"住户 {household.pk} 不在您负责的网格内 / household {household.pk} is not in a grid "
            "you are staff of",
            "household",
        )


def _check_may_act(user: User, household: Household) -> None:
    check_may_see(user, household)
    if not (user and user.has_perm(ACT_PERMISSION)):
        raise _not_permitted(
            "只有所在网格（或社区）的网格人员可登记走访、调整分类 / only the staff of the "
            "household's grid (or community) may record visits and change its colour",
            "household",
        )


# --- the schedule in SQL ----------------------------------------------------------------------


def _month(day: str) -> str:
    return f"date_trunc('month', {day}::timestamp)"


def _period_end(period: str, day: str) -> str:
    """SQL: the last day of the `period` that holds the date `day` (NULL for NULL)."""
    return f"""(CASE {period}
        WHEN '{P.DAY}' THEN {day}
        WHEN '{P.WEEK}' THEN date_trunc('week', {day}::timestamp)::date + 6
        WHEN '{P.HALF_MONTH}' THEN CASE
            WHEN extract(day FROM {day}) <= 15 THEN {_month(day)}::date + 14
            ELSE ({_month(day)} + interval '1 month - 1 day')::date END
        WHEN '{P.MONTH}' THEN ({_month(day)} + interval '1 month - 1 day')::date
        WHEN '{P.QUARTER}' THEN
            (date_trunc('quarter', {day}::timestamp) + interval '3 months - 1 day')::date
    END)"""


# Every household asked for, judged on %(day)s, in one statement (raw SQL: the ORM has no
# LATERAL join). The latest visit and class change of each come from a LATERAL probe backwards
# down the (household, time) indexes, so a community of thousands of households is thousands of
# index probes, never a scan of all visits.
#
# next_due, the last day by which the next visit must be made, is the latest of
#   - the end of the period after the one holding the last visit (the next period owes a visit),
#   - the end of the period holding the last class change (a new class starts with a visit owed
#     in the period it was set, whatever was visited under the old one),
# and, with neither, the end of the current period. Then: next_due before the day → overdue
# (since the day after next_due); on the day → due today; by the end of the current period →
# due (next_due is always the end of some period, so that is "in the current period"); later →
# fine. Visits and changes after the day are ignored, so a past day is judged as it was (with
# the household's current colour).
#
# The calendar arithmetic (nested CASEs over date_trunc) is done once per distinct (period, day)
# — a few hundred pairs however many households — and joined back: done per household it was
# most of the statement's time (3.7× the bare query on a community, 4× on a city).
def _judged_cte(overrides: bool) -> str:
    """The CTEs up to `judged`; `overrides`: a district has its own periods (ColorPolicy)."""
    if overrides:
        override_join = f"""
          LEFT JOIN {ColorPolicy._meta.db_table} o
            ON o.color = h.color
           AND o.network_id = (SELECT n.id FROM {GridUnit._meta.db_table} n
                                WHERE n.level = 'network'
                                  AND n.code = left((SELECT g.code FROM {GridUnit._meta.db_table} g
                                                      WHERE g.id = h.grid_id), 6))"""
        period, role = "COALESCE(o.period, d.period)", "COALESCE(o.role, d.role)"
    else:
        override_join, period, role = "", "d.period", "d.role"
    return f"""
    defaults AS (
        SELECT * FROM unnest(%(colors)s::text[], %(periods)s::text[], %(roles)s::text[])
               WITH ORDINALITY AS d(color, period, role, urgency)
    ),
    households AS MATERIALIZED (
        SELECT h.id, h.grid_id, h.building_id, h.unit_no, h.floor, h.color,
               d.urgency{{private_columns}}, {period} AS period, {role} AS role,
               last_visit.visited_at AS last_visit,
               (last_visit.visited_at AT TIME ZONE %(tz)s)::date AS last_day,
               (last_change.at AT TIME ZONE %(tz)s)::date AS changed_day
          FROM {Household._meta.db_table} h
          JOIN defaults d ON d.color = h.color{override_join}
          LEFT JOIN LATERAL (
                SELECT v.visited_at FROM {Visit._meta.db_table} v
                 WHERE v.household_id = h.id AND v.visited_at < %(day_end)s
                 ORDER BY v.visited_at DESC LIMIT 1
          ) last_visit ON true
          LEFT JOIN LATERAL (
                SELECT c.at FROM {ColorChange._meta.db_table} c
                 WHERE c.household_id = h.id AND c.at < %(day_end)s
                 ORDER BY c.at DESC LIMIT 1
          ) last_change ON true
         WHERE {{where}}
    ),
    after_visit AS MATERIALIZED (
        SELECT period, day, {_period_end("period", "(" + _period_end("period", "day") + " + 1)")}
                   AS due_by
          FROM (SELECT DISTINCT period, last_day AS day FROM households
                 WHERE last_day IS NOT NULL) p
    ),
    after_change AS MATERIALIZED (
        SELECT period, day, {_period_end("period", "day")} AS due_by
          FROM (SELECT DISTINCT period, changed_day AS day FROM households
                 WHERE changed_day IS NOT NULL) p
    ),
    this_period AS MATERIALIZED (
        SELECT period, {_period_end("period", "%(day)s::date")} AS ends
          FROM (SELECT DISTINCT period FROM households) p
    ),
    judged AS (
        SELECT h.*, x.next_due,
               CASE WHEN x.next_due < %(day)s::date THEN '{Status.OVERDUE}'
                    WHEN x.next_due = %(day)s::date THEN '{Status.DUE_TODAY}'
                    WHEN x.next_due <= t.ends THEN '{Status.DUE}'
                    ELSE '{Status.FINE}' END AS status
          FROM households h
          JOIN this_period t ON t.period = h.period
          LEFT JOIN after_visit v ON v.period = h.period AND v.day = h.last_day
          LEFT JOIN after_change c ON c.period = h.period AND c.day = h.changed_day
         CROSS JOIN LATERAL (
               SELECT COALESCE(GREATEST(v.due_by, c.due_by), t.ends) AS next_due) x
    )
"""


_DUE_SELECT = f"""
    SELECT j.id, j.grid_id,
           (SELECT g.code FROM {GridUnit._meta.db_table} g WHERE g.id = j.grid_id),
           j.building_id, b.name, b.road || b.number, j.unit_no,
           j.floor, j.color, j.period, j.role, j.last_visit, j.next_due, j.status,
           GREATEST(%(day)s::date - j.next_due, 0) AS overdue_days{{private_selected}}
      FROM judged j
      JOIN {Building._meta.db_table} b ON b.id = j.building_id
     ORDER BY array_position(%(statuses)s::text[], j.status), j.next_due, j.urgency, j.id
"""


def _due_sql(overrides: bool) -> str:
    return f"WITH {_judged_cte(overrides)} {_DUE_SELECT}"


def _has_overrides() -> bool:
    return ColorPolicy.objects.exists()


_WORKLOAD_SELECT = f"""
    SELECT j.grid_id, j.color, count(*),
           count(*) FILTER (WHERE j.status = '{Status.OVERDUE}'),
           count(*) FILTER (WHERE j.status = '{Status.DUE_TODAY}'),
           count(*) FILTER (WHERE j.status = '{Status.DUE}'),
           sum(m.visits)
      FROM judged j JOIN per_month m ON m.period = j.period
     GROUP BY j.grid_id, j.color
"""


def _workload_sql(overrides: bool) -> str:
    per_month = """, per_month AS (
        SELECT * FROM unnest(%(periods_all)s::text[], %(per_month)s::float8[]) AS m(period, visits)
    )"""
    return f"WITH {_judged_cte(overrides)}{per_month} {_WORKLOAD_SELECT}"


_VISITS_IN_MONTH_SQL = f"""
    SELECT h.grid_id, h.color, count(*)
      FROM {Visit._meta.db_table} v
      JOIN {Household._meta.db_table} h ON h.id = v.household_id
     WHERE h.grid_id = ANY(%(grids)s) AND v.visited_at >= %(start)s AND v.visited_at < %(end)s
     GROUP BY h.grid_id, h.color
"""


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def _params(day: dt.date) -> dict[str, Any]:
    return {
        "colors": list(DEFAULT_SCHEDULE),
        "periods": [s.period for s in DEFAULT_SCHEDULE.values()],
        "roles": [s.role for s in DEFAULT_SCHEDULE.values()],
        "tz": settings.TIME_ZONE,
        "day": day,
        "day_end": _local_midnight(day + dt.timedelta(days=1)),
    }


class DueHousehold(NamedTuple):
    """One household as judged on a day (a tuple: a city's million are made from rows fast)."""

    id: int
    grid_id: int | None
    grid_code: str | None
    building_id: int
    building_name: str
    address: str
    unit_no: int
    floor: int
    color: str
    period: str
    role: str
    last_visit: dt.datetime | None
    next_due: dt.date  # the last day by which the next visit must be made
    status: str
    overdue_days: int
    # head_name, head_phone, room: only when asked for (they are not selected otherwise).
    private: dict[str, str] | None = None

    @property
    def overdue_since(self) -> dt.date | None:
        """The first day the household was overdue."""
        return self.next_due + dt.timedelta(days=1) if self.status == Status.OVERDUE else None


def _due(where: str, params: dict[str, Any], private: bool) -> list[DueHousehold]:
    fields = Household.PRIVATE_FIELDS if private else ()
    # Without permission the personal columns are not even selected.
    sql = _due_sql(_has_overrides()).format(
        where=where,
        private_columns="".join(f", h.{name}" for name in fields),
        private_selected="".join(f", j.{name}" for name in fields),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "statuses": list(Status.values)})
        rows = cursor.fetchall()
    if not private:
        return [DueHousehold(*row) for row in rows]
    return [
        DueHousehold(*row[:15], private=dict(zip(fields, row[15:], strict=True))) for row in rows
    ]


def due(
    grid_ids: Collection[int], on_date: dt.date | None = None, *, private: bool = False
) -> list[DueHousehold]:
    """The households of `grid_ids` as they stand on `on_date` (default: today in
    Asia/Shanghai), most urgent first: overdue longest first, then due today, then due this
    period by the nearest deadline, then visited; within each, red before orange … before green.
    `private`: include Household.PRIVATE_FIELDS (check the user's permission first)."""
    day = on_date or timezone.localdate()
    return _due("h.grid_id = ANY(%(grids)s)", {**_params(day), "grids": list(grid_ids)}, private)


def due_for(
    household: Household, on_date: dt.date | None = None, *, private: bool = False
) -> DueHousehold:
    """One household as it stands on `on_date`, by the same rules as due()."""
    day = on_date or timezone.localdate()
    return _due("h.id = %(household)s", {**_params(day), "household": household.pk}, private)[0]


_COUNTS = ("households", "overdue", "due_today", "due", "visits_owed_per_month", "visits_in_month")


def _zero() -> dict[str, Any]:
    return {name: 0 for name in _COUNTS}


def _add(into: dict[str, Any], row: dict[str, Any]) -> None:
    for name in _COUNTS:
        into[name] += row[name]


def _rounded(row: dict[str, Any]) -> None:
    for part in (row, *row["by_color"].values()):
        part["visits_owed_per_month"] = round(part["visits_owed_per_month"], 2)


def workload(grid_ids: Collection[int], on_date: dt.date | None = None) -> dict[str, Any]:
    """The work the colours make in `grid_ids` on `on_date` (default today), per grid and in
    total, each also by colour: households; how many are overdue, due today and due this period;
    the visits owed in the month of `on_date` (red ≈ its days, orange ≈ its weeks, yellow 2,
    blue 1, green 1/3 per household: visits_per_month); the visits made in that month up to and
    including `on_date`.

    Returns {"days_in_month": n, "grids": {grid id: counts}, "total": counts}; every grid asked
    for is in "grids", with or without households.
    """
    day = on_date or timezone.localdate()
    params = _params(day)
    days_in_month = calendar.monthrange(day.year, day.month)[1]
    month_start = day.replace(day=1)

    def counts() -> dict[str, Any]:
        return {**_zero(), "by_color": {color: _zero() for color in C.values}}

    grids = {gid: counts() for gid in grid_ids}
    with connection.cursor() as cursor:
        cursor.execute(
            _workload_sql(_has_overrides()).format(
                where="h.grid_id = ANY(%(grids)s)", private_columns=""
            ),
            {
                **params,
                "grids": list(grid_ids),
                "periods_all": list(P.values),
                "per_month": [visits_per_month(p, days_in_month) for p in P.values],
            },
        )
        # The statement's columns after grid and colour: _COUNTS but for visits_in_month.
        for grid_id, color, *values in cursor.fetchall():
            grids[grid_id]["by_color"][color].update(zip(_COUNTS[:-1], values, strict=True))
        cursor.execute(
            _VISITS_IN_MONTH_SQL,
            {
                "grids": list(grid_ids),
                "start": _local_midnight(month_start),
                "end": params["day_end"],
            },
        )
        for grid_id, color, visits in cursor.fetchall():
            grids[grid_id]["by_color"][color]["visits_in_month"] = visits
    total = counts()
    for grid in grids.values():
        for color, row in grid["by_color"].items():
            _add(grid, row)
            _add(total["by_color"][color], row)
        _add(total, grid)
        _rounded(grid)
    _rounded(total)
    return {"days_in_month": days_in_month, "grids": grids, "total": total}


# --- recording visits and changing colours --------------------------------------------------------


def _username(user: User) -> str:
    return user.get_username() if user and user.is_authenticated else ""


def _post(user: User, household: Household) -> StaffMember | None:
    """The user's staff post nearest the household: at its grid, else its community, and so on."""
    if household.grid_id is None or not (user and user.is_authenticated):
        return None
    code = GridUnit.objects.filter(pk=household.grid_id).values_list("code", flat=True).get()
    prefixes = [code[:n] for n in (15, 12, 9, 6)]
    posts = StaffMember.objects.filter(user=user, unit__code__in=prefixes).select_related("unit")
    return max(posts, key=lambda post: (len(post.unit.code), -post.pk), default=None)


# What a recorded visit may write (note and photo are optional), as the audit log names it.
_VISIT_FIELDS = ("household", "visited_at", "note", "photo")


def record_visit(
    household: Household,
    user: User,
    note: str = "",
    photo: UploadedFile | None = None,
    at: dt.datetime | None = None,
    via: audit.Via = "visits",
) -> Visit:
    """Record a visit to `household` by `user` at `at` (default now; never in the future), with
    a note and an optional photo (an image, checked by its content), logged in the audit log as
    coming `via` (the request). Raises VisitError."""
    _check_may_act(user, household)
    now = timezone.now()
    at = at or now
    if at > now + FUTURE_TOLERANCE:
        raise VisitError(
            "visit_in_future",
            "走访时间不能晚于当前时间 / a visit cannot be recorded ahead of time",
            "visited_at",
        )
    if photo:
        try:
            photo = photos.checked_photo(photo)
        except photos.PhotoError as exc:
            raise VisitError(exc.code, str(exc), "photo") from None
    with transaction.atomic():
        visit = Visit.objects.create(
            household=household,
            visited_at=at,
            user=user if user and user.is_authenticated else None,
            username=_username(user),
            staff_member=_post(user, household),
            note=note.strip(),
            photo=photo or "",
        )
        written = [name for name in _VISIT_FIELDS if getattr(visit, name)]
        audit.log_change(user, audit.Action.CREATE, Visit, [visit.pk], written, via)
    return visit


def change_color(
    household: Household,
    new: str,
    reason: str,
    user: User,
    at: dt.datetime | None = None,
    via: audit.Via = "visits",
) -> ColorChange:
    """Move `household` to colour `new`, logged with `reason` (required) and in the audit log
    as coming `via` (the request). Raises VisitError: 400 for an unknown colour, no reason or the
    colour it already has, 403 for a user who may not act on it."""
    _check_may_act(user, household)
    if new not in C.values:
        names = ", ".join(C.values)
        raise VisitError(
            "invalid_color",
            f"分类应为 {names} 之一，收到 '{new}' / color must be one of {names}, got '{new}'",
            "color",
        )
    reason = (reason or "").strip()
    if not reason:
        raise VisitError(
            "missing_parameter", "调整分类需要说明理由 / a change of class needs a reason", "reason"
        )
    with transaction.atomic():
        # Locked, so two changes at once are logged one after the other with the right "from".
        current = Household.objects.select_for_update().values_list("color", flat=True)
        old = current.get(pk=household.pk)
        if old == new:
            raise VisitError(
                "color_unchanged",
                f"住户已是{C(new).label}分类 / the household is already {new}",
                "color",
            )
        # update(), not save(): save() would assign the household to its grid again.
        Household.objects.filter(pk=household.pk).update(color=new)
        household.color = new
        audit.log_change(user, audit.Action.CHANGE, Household, [household.pk], ["color"], via)
        return ColorChange.objects.create(
            household=household,
            from_color=old,
            to_color=new,
            reason=reason,
            user=user if user and user.is_authenticated else None,
            username=_username(user),
            at=at or timezone.now(),
        )
