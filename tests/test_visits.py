"""Specification of household visits by the five colours (docs/visits.md): the calendar period of
each colour and when a household is due or overdue across day, week, half-month, month, quarter
and year boundaries (Asia/Shanghai), class changes, district overrides, the workload counts, the
API and who may see and do what."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from gridmap.models import GridUnit, StaffMember
from layers import visits
from layers.models import Building, ColorChange, ColorPolicy, Household, Visit
from tests.conftest import box, make_unit, multi

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC
S = visits.Status
C = Household.Color
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def local(text: str) -> dt.datetime:
    """A moment in Beijing time: local("2025-01-31 10:00")."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.fixture
def buildings(world) -> dict[str, Building]:
    return {
        "g1": Building.objects.create(
            name="1号楼",
            road="新华北路",
            number="1",
            footprint=box(98.0005, 39.0005, 98.001, 39.001),
        ),
        "g2": Building.objects.create(
            name="2号楼",
            road="新华北路",
            number="2",
            footprint=box(98.0031, 39.0002, 98.0033, 39.0004),
        ),
    }


@pytest.fixture
def home(buildings):
    """home("red") → a new household of that colour in G1 (home("red", "g2") in G2)."""

    def make(color: str, grid: str = "g1", **fields) -> Household:
        return Household.objects.create(
            building=buildings[grid],
            color=color,
            room="301",
            head_name="张三",
            head_phone="13800000000",
            **fields,
        )

    return make


def visited(household: Household, *moments: dt.datetime) -> Household:
    for moment in moments:
        Visit.objects.create(household=household, visited_at=moment)
    return household


def judged(household: Household, on: str) -> tuple[str, str]:
    """(status, next due date) of the household on day `on`."""
    row = visits.due_for(household, day(on))
    return row.status, row.next_due.isoformat()


# --- the calendar periods -----------------------------------------------------------------------


def test_blue_is_owed_one_visit_per_calendar_month_across_a_month_end(home):
    in_january = visited(home(C.BLUE), local("2025-01-20 10:00"))
    assert judged(in_january, "2025-01-31") == (S.FINE, "2025-02-28")
    assert judged(in_january, "2025-02-01") == (S.DUE, "2025-02-28")
    assert judged(in_january, "2025-02-28") == (S.DUE_TODAY, "2025-02-28")
    assert judged(in_january, "2025-03-01") == (S.OVERDUE, "2025-02-28")

    in_december = visited(home(C.BLUE), local("2024-12-20 10:00"))
    assert judged(in_december, "2025-01-31") == (S.DUE_TODAY, "2025-01-31")
    row = visits.due_for(in_december, day("2025-02-01"))
    assert (row.status, row.overdue_since, row.overdue_days) == (S.OVERDUE, day("2025-02-01"), 1)


def test_a_monthly_visit_late_in_one_month_and_early_in_the_next_is_on_time(home):
    household = visited(home(C.BLUE), local("2025-01-31 17:00"), local("2025-02-01 09:00"))
    assert judged(household, "2025-02-01") == (S.FINE, "2025-03-31")


def test_green_is_owed_one_visit_per_calendar_quarter_across_a_quarter_end(home):
    in_q1 = visited(home(C.GREEN), local("2025-02-10 10:00"))
    assert judged(in_q1, "2025-03-31") == (S.FINE, "2025-06-30")
    assert judged(in_q1, "2025-04-01") == (S.DUE, "2025-06-30")

    in_q4 = visited(home(C.GREEN), local("2024-12-31 10:00"))
    assert judged(in_q4, "2025-03-31") == (S.DUE_TODAY, "2025-03-31")
    assert judged(in_q4, "2025-04-01") == (S.OVERDUE, "2025-03-31")


def test_green_quarters_cross_the_year_end(home):
    household = visited(home(C.GREEN), local("2024-10-01 10:00"))
    assert judged(household, "2024-12-31") == (S.FINE, "2025-03-31")
    assert judged(household, "2025-01-01") == (S.DUE, "2025-03-31")


def test_yellow_half_months_are_the_1st_to_15th_and_the_16th_to_the_month_end(home):
    on_the_15th = visited(home(C.YELLOW), local("2025-01-15 18:00"))
    assert judged(on_the_15th, "2025-01-15") == (S.FINE, "2025-01-31")
    assert judged(on_the_15th, "2025-01-16") == (S.DUE, "2025-01-31")

    on_the_16th = visited(home(C.YELLOW), local("2025-01-16 08:00"))
    assert judged(on_the_16th, "2025-01-31") == (S.FINE, "2025-02-15")
    assert judged(on_the_16th, "2025-02-01") == (S.DUE, "2025-02-15")

    in_december = visited(home(C.YELLOW), local("2024-12-20 10:00"))
    assert judged(in_december, "2025-01-15") == (S.DUE_TODAY, "2025-01-15")
    assert judged(in_december, "2025-01-16") == (S.OVERDUE, "2025-01-15")


def test_orange_is_owed_one_visit_per_iso_week_monday_to_sunday(home):
    on_sunday = visited(home(C.ORANGE), local("2025-03-09 10:00"))
    assert judged(on_sunday, "2025-03-10") == (S.DUE, "2025-03-16")
    assert judged(on_sunday, "2025-03-16") == (S.DUE_TODAY, "2025-03-16")
    assert judged(on_sunday, "2025-03-17") == (S.OVERDUE, "2025-03-16")

    on_monday = visited(home(C.ORANGE), local("2025-03-10 10:00"))
    assert judged(on_monday, "2025-03-16") == (S.FINE, "2025-03-23")


def test_an_iso_week_that_spans_the_year_end_is_one_week(home):
    # ISO week 2025-W01 runs from Monday 30 December 2024 to Sunday 5 January 2025.
    household = visited(home(C.ORANGE), local("2024-12-30 10:00"))
    assert judged(household, "2025-01-05") == (S.FINE, "2025-01-12")
    assert judged(household, "2025-01-06") == (S.DUE, "2025-01-12")


def test_february_29_of_a_leap_year_ends_the_month_and_the_half_month(home):
    blue = visited(home(C.BLUE), local("2024-01-31 10:00"))
    assert judged(blue, "2024-02-28") == (S.DUE, "2024-02-29")
    assert judged(blue, "2024-02-29") == (S.DUE_TODAY, "2024-02-29")
    assert judged(blue, "2024-03-01") == (S.OVERDUE, "2024-02-29")

    yellow_first_half = visited(home(C.YELLOW), local("2024-02-03 10:00"))
    assert judged(yellow_first_half, "2024-02-29") == (S.DUE_TODAY, "2024-02-29")
    yellow_second_half = visited(home(C.YELLOW), local("2024-02-16 10:00"))
    assert judged(yellow_second_half, "2024-02-29") == (S.FINE, "2024-03-15")

    red = visited(home(C.RED), local("2024-02-28 22:00"))
    assert judged(red, "2024-02-29") == (S.DUE_TODAY, "2024-02-29")
    assert judged(red, "2024-03-01") == (S.OVERDUE, "2024-02-29")


def test_red_days_are_beijing_days_not_utc_days(home):
    # 16:30 UTC on 10 March is 00:30 on 11 March in Beijing: a visit on the 11th.
    after_midnight = visited(home(C.RED), dt.datetime(2025, 3, 10, 16, 30, tzinfo=UTC))
    assert judged(after_midnight, "2025-03-11") == (S.FINE, "2025-03-12")
    # 15:59 UTC is 23:59 on 10 March in Beijing: the 11th still owes its visit.
    before_midnight = visited(home(C.RED), dt.datetime(2025, 3, 10, 15, 59, tzinfo=UTC))
    assert judged(before_midnight, "2025-03-10") == (S.FINE, "2025-03-11")
    assert judged(before_midnight, "2025-03-11") == (S.DUE_TODAY, "2025-03-11")
    assert judged(before_midnight, "2025-03-12") == (S.OVERDUE, "2025-03-11")


def test_a_household_never_visited_owes_a_visit_in_the_current_period(home):
    assert judged(home(C.RED), "2025-05-20") == (S.DUE_TODAY, "2025-05-20")
    assert judged(home(C.BLUE), "2025-05-20") == (S.DUE, "2025-05-31")


def test_a_past_day_is_judged_without_the_visits_made_after_it(home):
    household = visited(home(C.BLUE), local("2025-01-10 10:00"), local("2025-03-05 10:00"))
    assert judged(household, "2025-03-01") == (S.OVERDUE, "2025-02-28")
    assert judged(household, "2025-03-05") == (S.FINE, "2025-04-30")


def test_households_are_listed_overdue_longest_first_then_red_first(world, home):
    blue_overdue = visited(home(C.BLUE), local("2024-11-05 10:00"))
    red_overdue = visited(home(C.RED), local("2025-01-28 10:00"))
    green = visited(home(C.GREEN), local("2024-12-01 10:00"))  # Q1 ends 31 March
    red_today = home(C.RED)
    orange = visited(home(C.ORANGE), local("2025-03-25 10:00"))  # owes one in 31 Mar–6 Apr
    red_fine = visited(home(C.RED), local("2025-03-31 08:00"))
    rows = visits.due([world["g1"].id], day("2025-03-31"))
    assert [(r.id, r.status) for r in rows] == [
        (blue_overdue.id, S.OVERDUE),  # since 1 January
        (red_overdue.id, S.OVERDUE),  # since 30 January
        (red_today.id, S.DUE_TODAY),
        (green.id, S.DUE_TODAY),
        (orange.id, S.DUE),
        (red_fine.id, S.FINE),
    ]


def test_the_due_list_is_two_queries_however_many_households(
    world, home, django_assert_num_queries
):
    for color in C.values * 4:
        visited(home(color), local("2025-02-03 10:00"), local("2025-03-03 10:00"))
    # Whether any district overrides the schedule, then the list itself.
    with django_assert_num_queries(2):
        rows = visits.due([world["g1"].id, world["g2"].id], day("2025-03-31"))
    assert len(rows) == 20


# --- class changes and district overrides -------------------------------------------------------


@pytest.fixture
def worker(world) -> User:
    """A grid worker (网格员) of G1: the grid_worker role and a staff post at G1."""
    user = User.objects.create(username="g1-worker")
    user.groups.add(Group.objects.get(name="grid_worker"))
    StaffMember.objects.create(unit=world["g1"], role="full_time_worker", name="王芳", user=user)
    return user


def test_a_class_change_is_logged_with_its_reason_and_who_made_it(home, worker):
    household = home(C.GREEN)
    change = visits.change_color(household, C.RED, "  独居老人住院出院 ", worker)
    household.refresh_from_db()
    assert household.color == C.RED
    logged = ColorChange.objects.get(household=household)
    assert logged == change
    assert (logged.from_color, logged.to_color, logged.reason) == (
        C.GREEN,
        C.RED,
        "独居老人住院出院",
    )
    assert (logged.user, logged.username) == (worker, "g1-worker")


@pytest.mark.parametrize(
    ("color", "reason", "code"),
    [
        (C.RED, "", "missing_parameter"),
        (C.RED, "   ", "missing_parameter"),
        (C.GREEN, "复核", "color_unchanged"),
        ("purple", "复核", "invalid_color"),
    ],
)
def test_a_class_change_without_a_reason_or_to_the_same_class_is_refused(
    home, worker, color, reason, code
):
    household = home(C.GREEN)
    with pytest.raises(visits.VisitError) as refused:
        visits.change_color(household, color, reason, worker)
    assert (refused.value.code, refused.value.status) == (code, 400)
    household.refresh_from_db()
    assert household.color == C.GREEN
    assert not ColorChange.objects.exists()


def test_a_new_class_owes_its_first_visit_in_the_period_of_the_change(home, worker):
    # Green, last visited in January: as red from 20 March it owes a visit on the 20th, not
    # every day since January.
    household = visited(home(C.GREEN), local("2025-01-10 10:00"))
    visits.change_color(household, C.RED, "突发重病", worker, at=local("2025-03-20 09:00"))
    assert judged(household, "2025-03-20") == (S.DUE_TODAY, "2025-03-20")
    assert judged(household, "2025-03-21") == (S.OVERDUE, "2025-03-20")
    # A visit already made in the period of the change counts for the new class.
    blue = visited(home(C.GREEN), local("2025-03-03 10:00"))
    visits.change_color(blue, C.BLUE, "家庭困难", worker, at=local("2025-03-20 09:00"))
    assert judged(blue, "2025-03-20") == (S.FINE, "2025-04-30")


@pytest.fixture
def other_district(db) -> GridUnit:
    """A grid of another network (district), 620300, with one building."""
    area = multi(box(99.0, 40.0, 99.002, 40.002))
    network = make_unit("network", "620300", area, name="另一区")
    segment = make_unit("segment", "620300001", area.clone(), network)
    node = make_unit("node", "620300001001", area.clone(), segment)
    grid = make_unit("grid", "620300001001001", area.clone(), node)
    Building.objects.create(
        name="9号楼", road="建设路", number="9", footprint=box(99.0005, 40.0005, 99.001, 40.001)
    )
    return grid


def test_a_district_override_changes_the_period_and_role_of_one_colour(world, home, other_district):
    ColorPolicy.objects.create(
        network=world["network"],
        color=C.GREEN,
        period=ColorPolicy.Period.MONTH,
        role=StaffMember.Role.GRID_LEADER,
    )
    ours = visited(home(C.GREEN), local("2025-01-20 10:00"))
    theirs = Household.objects.create(
        building=Building.objects.get(name="9号楼"), color=C.GREEN, residents=1
    )
    Visit.objects.create(household=theirs, visited_at=local("2025-01-20 10:00"))
    assert theirs.grid == other_district

    row = visits.due_for(ours, day("2025-02-01"))
    assert (row.status, row.next_due, row.period, row.role) == (
        S.DUE,
        day("2025-02-28"),
        "month",
        "grid_leader",
    )
    row = visits.due_for(theirs, day("2025-02-01"))
    assert (row.status, row.next_due, row.period, row.role) == (
        S.FINE,
        day("2025-06-30"),
        "quarter",
        "part_time_member",
    )
    # Other colours of the district keep their defaults.
    assert visits.due_for(home(C.BLUE), day("2025-02-01")).period == "month"
    assert visits.due_for(home(C.YELLOW), day("2025-02-01")).period == "half_month"


def test_the_default_schedule_is_the_seeds(db):
    assert {c: (s.period, s.role) for c, s in visits.DEFAULT_SCHEDULE.items()} == {
        "red": ("day", "community_lead"),
        "orange": ("week", "grid_leader"),
        "yellow": ("half_month", "full_time_worker"),
        "blue": ("month", "part_time_member"),
        "green": ("quarter", "part_time_member"),
    }


# --- workload -----------------------------------------------------------------------------------


def test_workload_counts_per_grid_due_overdue_and_the_visits_the_colours_owe(world, home):
    visited(home(C.RED), local("2025-02-08 10:00"), local("2025-01-30 10:00"))  # overdue
    home(C.RED)  # due today
    home(C.ORANGE)  # due by Sunday 16 February
    visited(home(C.YELLOW), local("2025-02-03 10:00"))  # visited this half month
    home(C.YELLOW)
    visited(home(C.BLUE), local("2025-01-31 10:00"))
    for _ in range(3):
        home(C.GREEN)
    home(C.BLUE, grid="g2")

    work = visits.workload([world["g1"].id, world["g2"].id, world["g3"].id], day("2025-02-10"))
    assert work["days_in_month"] == 28
    g1 = work["grids"][world["g1"].id]
    # February 2025 has 28 days: red 28 each, orange 28/7, yellow 2, blue 1, green 1/3.
    assert g1["visits_owed_per_month"] == 28 * 2 + 4 + 2 * 2 + 1 + 1
    assert {c: row["visits_owed_per_month"] for c, row in g1["by_color"].items()} == {
        "red": 56,
        "orange": 4,
        "yellow": 4,
        "blue": 1,
        "green": 1,
    }
    assert (g1["households"], g1["overdue"], g1["due_today"], g1["due"]) == (9, 1, 1, 6)
    assert g1["by_color"]["red"] == {
        "households": 2,
        "overdue": 1,
        "due_today": 1,
        "due": 0,
        "visits_owed_per_month": 56,
        "visits_in_month": 1,
    }
    assert g1["visits_in_month"] == 2  # the January visits are another month's
    g3 = work["grids"][world["g3"].id]
    assert (g3["households"], g3["visits_owed_per_month"]) == (0, 0)
    assert work["total"]["households"] == 10
    assert work["total"]["by_color"]["blue"]["visits_owed_per_month"] == 2


def test_a_week_owes_a_seventh_of_the_days_of_the_month(db):
    assert visits.visits_per_month("week", 31) == pytest.approx(4.43, abs=0.01)
    assert visits.visits_per_month("quarter", 30) == pytest.approx(1 / 3)


# --- the API and who may see and do what --------------------------------------------------------


def member(role: str | None, username: str) -> User:
    user = User.objects.create(username=username)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def client_of(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def lead(world) -> User:
    """The community lead (社区负责人) of the node, with a grid worker's permissions."""
    user = member("grid_worker", "node-lead")
    StaffMember.objects.create(unit=world["node"], role="community_lead", name="刘强", user=user)
    return user


@pytest.fixture
def homes(home) -> dict[str, Household]:
    return {"g1": home(C.RED), "g2": home(C.BLUE, "g2")}


def due_url(**params) -> str:
    return reverse("visits-due") + "?" + "&".join(f"{k}={v}" for k, v in params.items())


def workload_url(**params) -> str:
    return reverse("visits-workload") + "?" + "&".join(f"{k}={v}" for k, v in params.items())


def visits_url(household: Household) -> str:
    return reverse("household-visits", args=[household.pk])


def color_url(household: Household) -> str:
    return reverse("household-color", args=[household.pk])


def test_a_grid_worker_sees_their_grid_with_personal_data_and_nothing_else(world, worker, homes):
    api = client_of(worker)
    response = api.get(due_url(grid=world["g1"].id, date="2025-03-10"))
    assert response.status_code == 200
    body = response.json()
    assert body["unit"]["code"] == world["g1"].code
    assert body["counts"] == {"overdue": 0, "due_today": 1, "due": 0, "fine": 0}
    [row] = body["households"]
    assert row["id"] == homes["g1"].id
    assert (row["head_name"], row["head_phone"], row["room"]) == ("张三", "13800000000", "301")
    assert row["building"]["address"] == "新华北路1"
    assert (row["color"], row["status"], row["next_due"]) == ("red", "due_today", "2025-03-10")
    assert row["responsible_role"] == "community_lead"

    for url in (
        due_url(grid=world["g2"].id),
        due_url(node=world["node"].id),
        visits_url(homes["g2"]),
    ):
        response = api.get(url)
        assert response.status_code == 403, url
        assert response.json()["error"] == "not_permitted"
        assert "/" in response.json()["detail"]  # 中文 / English
    # The workload is counts (no households): the community's figures are shown to its staff.
    assert api.get(workload_url(node=world["node"].id)).status_code == 200
    assert api.post(visits_url(homes["g2"]), {"note": "走访"}).status_code == 403
    assert api.post(color_url(homes["g2"]), {"color": "red", "reason": "x"}).status_code == 403
    assert not Visit.objects.exists()
    assert api.get(workload_url(grid=world["g1"].id)).status_code == 200


def test_a_grid_worker_without_a_post_sees_no_grid(world, homes):
    api = client_of(member("grid_worker", "unposted"))
    assert api.get(due_url(grid=world["g1"].id)).status_code == 403
    assert api.post(visits_url(homes["g1"]), {"note": "走访"}).status_code == 403


def test_a_grid_worker_records_a_visit_and_it_clears_overdue(world, worker, homes):
    household = visited(homes["g1"], timezone.now() - dt.timedelta(days=3))
    assert visits.due_for(household).status == S.OVERDUE
    response = client_of(worker).post(visits_url(household), {"note": "血压正常"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["visit"]["note"] == "血压正常"
    assert body["visit"]["user"] == "g1-worker"
    assert body["visit"]["staff"]["role"] == "full_time_worker"
    assert body["household"]["status"] == "fine"
    assert visits.due_for(household).status == S.FINE
    listed = client_of(worker).get(visits_url(household)).json()
    assert [v["note"] for v in listed["visits"]] == ["血压正常", ""]
    assert listed["visits_total"] == 2


def test_a_visit_cannot_be_recorded_ahead_of_time(worker, homes):
    later = (timezone.now() + dt.timedelta(hours=2)).isoformat()
    response = client_of(worker).post(visits_url(homes["g1"]), {"visited_at": later}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "visit_in_future"
    assert not Visit.objects.exists()


def test_a_community_lead_sees_and_acts_on_every_grid_of_their_community(
    world, lead, homes, other_district
):
    api = client_of(lead)
    body = api.get(due_url(node=world["node"].id)).json()
    assert {row["id"] for row in body["households"]} == {homes["g1"].id, homes["g2"].id}
    assert all("head_name" in row for row in body["households"])
    response = api.post(visits_url(homes["g2"]), {"note": "入户"}, format="json")
    assert response.status_code == 201
    assert response.json()["visit"]["staff"]["role"] == "community_lead"
    assert api.get(workload_url(node=world["node"].id)).status_code == 200
    # The workload is counts, which every role may see; households stay behind the post.
    assert api.get(workload_url(segment=other_district.parent.parent_id)).status_code == 200
    assert api.get(due_url(grid=other_district.id)).status_code == 403


@pytest.mark.parametrize("role", ["planner", "dispatcher"])
def test_planners_and_dispatchers_read_every_grid_without_personal_data_and_act_on_none(
    world, homes, worker, role
):
    visits.record_visit(homes["g1"], worker, "独居，需要关注")
    api = client_of(member(role, role))
    body = api.get(due_url(node=world["node"].id)).json()
    assert len(body["households"]) == 2
    for row in body["households"]:
        assert not set(Household.PRIVATE_FIELDS) & set(row)
    listed = api.get(visits_url(homes["g1"])).json()
    assert "note" not in listed["visits"][0]
    assert "head_name" not in listed["household"]
    assert api.get(workload_url(segment=world["segment"].id)).status_code == 200
    response = api.post(visits_url(homes["g1"]), {"note": "x"}, format="json")
    assert (response.status_code, response.json()["error"]) == (403, "not_permitted")
    assert api.post(color_url(homes["g1"]), {"color": "green", "reason": "x"}).status_code == 403


def test_a_viewer_gets_counts_but_no_household(world, homes):
    api = client_of(member("viewer", "viewer"))
    response = api.get(due_url(grid=world["g1"].id))
    assert (response.status_code, response.json()["error"]) == (403, "permission_denied")
    assert api.get(visits_url(homes["g1"])).status_code == 403
    work = api.get(workload_url(node=world["node"].id, date="2025-03-10")).json()
    assert [g["code"] for g in work["grids"]] == [world[g].code for g in ("g1", "g2", "g3")]
    assert work["total"]["households"] == 2
    assert "张三" not in str(work)


def test_anonymous_requests_get_401(world, homes):
    for url in (due_url(grid=world["g1"].id), workload_url(node=world["node"].id)):
        assert APIClient().get(url).status_code == 401
    assert APIClient().post(visits_url(homes["g1"]), {"note": "x"}).status_code == 401


def test_the_due_list_filters_by_status_and_counts_before_filtering(world, worker, home):
    visited(home(C.BLUE), local("2025-01-10 10:00"))
    home(C.BLUE)
    body = (
        client_of(worker)
        .get(due_url(grid=world["g1"].id, date="2025-03-10", status="overdue"))
        .json()
    )
    assert body["counts"] == {"overdue": 1, "due_today": 0, "due": 1, "fine": 0}
    assert [row["status"] for row in body["households"]] == ["overdue"]
    assert body["households"][0]["overdue_since"] == "2025-03-01"
    assert body["households"][0]["overdue_days"] == 10


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, 400, "missing_parameter"),
        ({"grid": "x"}, 400, "invalid_grid"),
        ({"grid": 999999}, 404, "not_found"),
        ({"grid": "{g1}", "date": "2025-02-30"}, 400, "invalid_date"),
        ({"grid": "{g1}", "status": "late"}, 400, "invalid_status"),
    ],
)
def test_bad_due_requests_are_refused_in_the_error_shape(world, worker, params, status, code):
    params = {k: str(v).format(g1=world["g1"].id) for k, v in params.items()}
    response = client_of(worker).get(due_url(**params))
    assert response.status_code == status
    assert response.json()["error"] == code


# --- class changes over HTTP --------------------------------------------------------------------


def test_a_class_change_over_http_returns_the_logged_change(worker, homes):
    response = client_of(worker).post(
        color_url(homes["g1"]), {"color": "yellow", "reason": "病情稳定"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["change"]["from_color"] == "red"
    assert body["change"]["to_color"] == "yellow"
    assert body["change"]["reason"] == "病情稳定"
    assert body["change"]["user"] == "g1-worker"
    assert body["household"]["color"] == "yellow"
    assert body["household"]["period"] == "half_month"
    history = client_of(worker).get(visits_url(homes["g1"])).json()["color_changes"]
    assert [c["to_color"] for c in history] == ["yellow"]


def test_a_class_change_without_a_reason_is_a_400(worker, homes):
    api = client_of(worker)
    for body in ({"color": "yellow"}, {"color": "yellow", "reason": " "}):
        response = api.post(color_url(homes["g1"]), body, format="json")
        assert response.status_code == 400
        assert response.json() == {
            "error": "missing_parameter",
            "detail": "调整分类需要说明理由 / a change of class needs a reason",
            "where": "reason",
        }
    response = api.post(color_url(homes["g1"]), {"color": "red", "reason": "复核"}, format="json")
    assert (response.status_code, response.json()["error"]) == (400, "color_unchanged")
    assert not ColorChange.objects.exists()


# --- photos -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "ctype"), [(JPEG, "image/jpeg"), (PNG, "image/png")])
def test_a_visit_photo_is_accepted_by_its_content_and_shown_only_to_grid_staff(
    worker, homes, content, ctype
):
    api = client_of(worker)
    response = api.post(
        visits_url(homes["g1"]),
        {"note": "门前杂物已清理", "photo": SimpleUploadedFile("张三家.jpg", content)},
        format="multipart",
    )
    assert response.status_code == 201
    url = response.json()["visit"]["photo"]
    visit = Visit.objects.get()
    assert url == reverse("visit-photo", args=[homes["g1"].pk, visit.pk])
    assert "张三" not in visit.photo.name
    photo = api.get(url, HTTP_ACCEPT="image/*")
    assert (photo.status_code, photo["Content-Type"]) == (200, ctype)
    assert b"".join(photo.streaming_content) == content
    assert client_of(member("planner", "planner")).get(url).status_code == 403


def test_a_file_that_is_not_an_image_is_refused_and_no_visit_recorded(worker, homes):
    response = client_of(worker).post(
        visits_url(homes["g1"]),
        {"note": "x", "photo": SimpleUploadedFile("photo.jpg", b"%PDF-1.4 not an image")},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "photo_not_an_image"
    assert response.json()["where"] == "photo"
    assert not Visit.objects.exists()


# --- admin --------------------------------------------------------------------------------------


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_the_district_schedule_is_edited_in_the_admin_and_the_logs_are_read_only(
    admin_client, world, worker, homes
):
    response = admin_client.post(
        admin_url(ColorPolicy, "add"),
        {
            "network": world["network"].pk,
            "color": "green",
            "period": "month",
            "role": "grid_leader",
        },
    )
    assert response.status_code == 302
    policy = ColorPolicy.objects.get()
    assert admin_client.get(admin_url(ColorPolicy, "changelist")).status_code == 200
    assert admin_client.get(admin_url(ColorPolicy, "change", policy.pk)).status_code == 200
    visit = visits.record_visit(homes["g1"], worker, "走访", photo=SimpleUploadedFile("a", JPEG))
    change = visits.change_color(homes["g1"], C.ORANGE, "好转", worker)
    for model, row in ((Visit, visit), (ColorChange, change)):
        assert admin_client.get(admin_url(model, "changelist")).status_code == 200
        assert admin_client.get(admin_url(model, "changelist"), {"q": "1"}).status_code == 200
        assert admin_client.get(admin_url(model, "change", row.pk)).status_code == 200
        assert admin_client.get(admin_url(model, "add")).status_code == 403


def test_a_district_schedule_must_name_a_network(world):
    from django.core.exceptions import ValidationError

    policy = ColorPolicy(network=world["node"], color="red", period="week", role="grid_leader")
    with pytest.raises(ValidationError):
        policy.full_clean()
