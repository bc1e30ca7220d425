"""Specification of the case workflow (layers.workflow): the transition table, who may act at
which level, deadlines and extensions, escalation, the overdue sweep, the timeline, and the
grid a case was reported in."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gridmap import editing
from gridmap.models import StaffMember
from layers import workflow
from layers.models import CaseDeadline, Incident, IncidentTransition
from layers.services.deadlines import DEFAULT_HOURS, deadline_for, hours_for
from layers.workflow import TRANSITIONS, Who, WorkflowError
from tests.conftest import G1

pytestmark = pytest.mark.django_db

S = Incident.Status
A = IncidentTransition.Action
IN_G1 = Point(98.001, 39.001, srid=4326)
IN_G2 = Point(98.003, 39.0018, srid=4326)
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
# What each action needs to be taken, beyond being allowed.
DATA = {
    A.CANCEL: {"note": "重复事件"},
    A.SEND_BACK: {"note": "现场仍有垃圾"},
    A.RATE: {"rating": 4},
    A.EXTEND: {"note": "需要协调物业", "hours": 24},
}
OPEN = [s for s in S.values if s not in Incident.FINISHED]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def member(role: str, username: str) -> User:
    """A user with a role and no password (hashing one costs a quarter of a second)."""
    user = User.objects.create(username=username)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def people(world) -> dict[str, User]:
    """A dispatcher; the staff of G1 and of the community (node); a worker of G2; a viewer."""
    users = {
        "dispatcher": member("dispatcher", "dispatcher"),
        "grid_staff": member("grid_worker", "g1-worker"),
        "other_grid_staff": member("grid_worker", "g2-worker"),
        "node_staff": member("viewer", "community-lead"),
        "viewer": member("viewer", "viewer"),
    }
    StaffMember.objects.create(
        unit=world["g1"], role="full_time_worker", name="王芳", user=users["grid_staff"]
    )
    StaffMember.objects.create(
        unit=world["g2"], role="full_time_worker", name="赵强", user=users["other_grid_staff"]
    )
    StaffMember.objects.create(
        unit=world["node"], role="community_lead", name="刘洋", user=users["node_staff"]
    )
    return users


def case(
    status: str = S.RECEIVED,
    level: str = "grid",
    category: str = Incident.Category.ENVIRONMENT,
    where: Point = IN_G1,
    deadline: dt.datetime | None = None,
) -> Incident:
    """A case put straight into a state (set-up only; the workflow is what the tests exercise)."""
    incident = Incident.objects.create(category=category, location=where)
    Incident.objects.filter(pk=incident.pk).update(status=status, level=level, deadline=deadline)
    incident.refresh_from_db()
    return incident


def responsible_actions(status: str) -> list[str]:
    actions = [
        a for a, t in TRANSITIONS.items() if status in t.sources and t.who == Who.RESPONSIBLE
    ]
    return actions + (["escalate"] if status in OPEN else [])


# --- the transition table -----------------------------------------------------------------------


PAIRS = list(itertools.product(S.values, TRANSITIONS))


@pytest.mark.parametrize(("status", "action"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
def test_every_action_from_every_status_is_allowed_exactly_as_the_table_says(
    people, status, action
):
    incident = case(status, deadline=T0 + dt.timedelta(hours=5))
    transition = TRANSITIONS[action]
    if status in transition.sources:
        entry = workflow.apply(
            incident, action, people["dispatcher"], now=T0, **DATA.get(action, {})
        )
        incident.refresh_from_db()
        assert incident.status == (transition.target or status)
        assert (entry.action, entry.from_status, entry.to_status) == (
            action,
            status,
            incident.status,
        )
    else:
        with pytest.raises(WorkflowError) as refused:
            workflow.apply(incident, action, people["dispatcher"], **DATA.get(action, {}))
        assert refused.value.status == 409
        assert refused.value.code == "illegal_transition"
        assert refused.value.where == {
            "status": status,
            "allowed": workflow.allowed_actions(incident, people["dispatcher"]),
        }
        assert action not in refused.value.where["allowed"]
        incident.refresh_from_db()
        assert incident.status == status
        assert not incident.transitions.exists()


def test_the_table_is_the_documented_case_cycle():
    table = {a: (set(t.sources), t.target, t.who) for a, t in TRANSITIONS.items()}
    assert table == {
        "verify": ({S.RECEIVED}, S.VERIFIED, Who.RESPONSIBLE),
        "cancel": ({S.RECEIVED, S.VERIFIED}, S.CANCELLED, Who.DISPATCHER),
        "dispatch": ({S.VERIFIED}, S.DISPATCHED, Who.DISPATCHER),
        "start": ({S.DISPATCHED}, S.HANDLING, Who.RESPONSIBLE),
        "feedback": ({S.HANDLING, S.BACKLOG}, S.FEEDBACK, Who.RESPONSIBLE),
        "close": ({S.FEEDBACK}, S.CLOSED, Who.DISPATCHER),
        "send_back": ({S.FEEDBACK}, S.DISPATCHED, Who.DISPATCHER),
        "rate": ({S.CLOSED}, S.RATED, Who.DISPATCHER),
        "extend": ({S.DISPATCHED, S.HANDLING, S.BACKLOG}, None, Who.RESPONSIBLE),
        "backlog": ({S.DISPATCHED, S.HANDLING}, S.BACKLOG, Who.DISPATCHER),
        "resume": ({S.BACKLOG}, S.HANDLING, Who.RESPONSIBLE),
    }


def test_a_rated_or_cancelled_case_allows_nothing_and_a_closed_one_only_rating(people):
    dispatcher = people["dispatcher"]
    assert workflow.allowed_actions(case(S.RATED), dispatcher) == []
    assert workflow.allowed_actions(case(S.CANCELLED), dispatcher) == []
    assert workflow.allowed_actions(case(S.CLOSED), dispatcher) == ["rate"]


def test_the_full_cycle_from_report_to_rating(people):
    dispatcher, worker = people["dispatcher"], people["grid_staff"]
    incident = Incident(category=Incident.Category.NOISE, location=IN_G1)
    workflow.open_case(incident, worker, now=T0)
    steps = [
        ("verify", worker, {}),
        ("dispatch", dispatcher, {"department": "城管执法中队"}),
        ("start", worker, {}),
        ("feedback", worker, {}),
        ("close", dispatcher, {}),
        ("rate", dispatcher, {"rating": 5}),
    ]
    for n, (action, user, data) in enumerate(steps, 1):
        workflow.apply(incident, action, user, now=T0 + dt.timedelta(minutes=n), **data)
    incident.refresh_from_db()
    assert incident.status == S.RATED
    assert incident.rating == 5
    assert incident.department == "城管执法中队"
    assert incident.closed_at == T0 + dt.timedelta(minutes=5)
    assert [e.action for e in incident.transitions.all()] == [
        "open",
        "verify",
        "dispatch",
        "start",
        "feedback",
        "close",
        "rate",
    ]


def test_an_unknown_action_is_refused_with_400(people):
    with pytest.raises(WorkflowError) as refused:
        workflow.apply(case(), "approve", people["dispatcher"])
    assert (refused.value.status, refused.value.code) == (400, "unknown_action")


@pytest.mark.parametrize(
    ("action", "status", "data", "where"),
    [
        ("cancel", S.RECEIVED, {}, "note"),
        ("send_back", S.FEEDBACK, {"note": "  "}, "note"),
        ("extend", S.HANDLING, {"hours": 24}, "note"),
        ("extend", S.HANDLING, {"note": "等配件"}, "hours"),
        ("extend", S.HANDLING, {"note": "等配件", "hours": 0}, "hours"),
        ("extend", S.HANDLING, {"note": "等配件", "hours": 721}, "hours"),
        ("rate", S.CLOSED, {}, "rating"),
        ("rate", S.CLOSED, {"rating": 6}, "rating"),
        ("close", S.FEEDBACK, {"hours": 3}, "hours"),
        ("dispatch", S.VERIFIED, {"rating": 3}, "rating"),
    ],
)
def test_missing_or_wrong_data_is_refused_with_400_and_changes_nothing(
    people, action, status, data, where
):
    incident = case(status, deadline=T0)
    with pytest.raises(WorkflowError) as refused:
        workflow.apply(incident, action, people["dispatcher"], **data)
    assert refused.value.status == 400
    assert refused.value.where == where
    incident.refresh_from_db()
    assert (incident.status, incident.deadline, incident.rating) == (status, T0, None)
    assert not incident.transitions.exists()


# --- who may act, by level ----------------------------------------------------------------------


@pytest.mark.parametrize("status", S.values)
def test_grid_staff_may_take_the_field_actions_on_a_case_of_their_grid(people, status):
    incident = case(status)
    assert workflow.allowed_actions(incident, people["grid_staff"]) == responsible_actions(status)


@pytest.mark.parametrize("status", S.values)
def test_a_dispatcher_may_take_every_action_the_status_allows(people, status):
    incident = case(status)
    expected = [a for a, t in TRANSITIONS.items() if status in t.sources]
    expected += ["escalate"] if status in OPEN else []
    for level in ("grid", "node", "segment"):
        Incident.objects.filter(pk=incident.pk).update(level=level)
        incident.refresh_from_db()
        assert workflow.allowed_actions(incident, people["dispatcher"]) == expected, level


@pytest.mark.parametrize(
    ("level", "who", "may_act"),
    [
        ("grid", "grid_staff", True),
        ("grid", "node_staff", False),
        ("grid", "other_grid_staff", False),
        ("grid", "viewer", False),
        ("node", "grid_staff", False),
        ("node", "node_staff", True),
        ("segment", "grid_staff", False),
        ("segment", "node_staff", False),
        ("network", "node_staff", False),
        ("network", "dispatcher", True),
    ],
)
def test_who_may_act_follows_the_level_holding_the_case(people, level, who, may_act):
    incident = case(S.RECEIVED, level=level)
    allowed = workflow.allowed_actions(incident, people[who])
    assert ("verify" in allowed) is may_act
    if may_act:
        entry = workflow.apply(incident, "verify", people[who])
        assert entry.user == people[who]
    else:
        assert allowed == []
        with pytest.raises(WorkflowError) as refused:
            workflow.apply(incident, "verify", people[who])
        assert (refused.value.status, refused.value.code) == (403, "not_permitted")
        incident.refresh_from_db()
        assert incident.status == S.RECEIVED


@pytest.mark.parametrize("action", ["cancel", "dispatch", "close", "send_back", "rate", "backlog"])
def test_grid_staff_may_not_take_a_dispatchers_action(people, action):
    status = next(iter(sorted(TRANSITIONS[action].sources)))
    incident = case(status, deadline=T0)
    with pytest.raises(WorkflowError) as refused:
        workflow.apply(incident, action, people["grid_staff"], **DATA.get(action, {}))
    assert refused.value.status == 403


def test_a_case_outside_every_grid_is_for_dispatchers_only(people):
    incident = case(where=Point(98.0036, 39.0014, srid=4326))  # hole B of G2: a coverage gap
    assert incident.grid_id is None
    assert workflow.allowed_actions(incident, people["grid_staff"]) == []
    assert workflow.allowed_actions(incident, people["node_staff"]) == []
    assert "verify" in workflow.allowed_actions(incident, people["dispatcher"])


# --- escalation ---------------------------------------------------------------------------------


def test_escalation_climbs_grid_node_segment_network_and_stops_there(people):
    incident = case(S.HANDLING)
    for expected in ("node", "segment", "network"):
        entry = workflow.escalate(incident, people["dispatcher"], "超出网格处置能力")
        assert (entry.to_level, incident.level) == (expected, expected)
        assert entry.from_status == entry.to_status == S.HANDLING
    with pytest.raises(WorkflowError) as refused:
        workflow.escalate(incident, people["dispatcher"], "再上报")
    assert (refused.value.status, refused.value.code) == (409, "illegal_transition")
    assert "escalate" not in refused.value.where["allowed"]
    assert [(e.from_level, e.to_level) for e in incident.transitions.all()] == [
        ("grid", "node"),
        ("node", "segment"),
        ("segment", "network"),
    ]


def test_grid_staff_escalate_to_the_community_which_then_holds_the_case(people):
    incident = case(S.RECEIVED)
    workflow.escalate(incident, people["grid_staff"], "涉及多个网格")
    assert incident.level == "node"
    assert workflow.allowed_actions(incident, people["grid_staff"]) == []
    assert workflow.allowed_actions(incident, people["node_staff"]) == ["verify", "escalate"]
    with pytest.raises(WorkflowError) as refused:
        workflow.escalate(incident, people["grid_staff"], "再上报")
    assert refused.value.status == 403
    workflow.escalate(incident, people["node_staff"], "需街道协调")
    assert incident.level == "segment"
    assert workflow.allowed_actions(incident, people["node_staff"]) == []


def test_escalation_needs_a_reason_and_an_open_case(people):
    with pytest.raises(WorkflowError) as refused:
        workflow.escalate(case(), people["dispatcher"], " ")
    assert (refused.value.status, refused.value.where) == (400, "reason")
    with pytest.raises(WorkflowError) as refused:
        workflow.escalate(case(S.CLOSED), people["dispatcher"], "理由")
    assert refused.value.status == 409


# --- deadlines ----------------------------------------------------------------------------------


@pytest.mark.parametrize("category", Incident.Category.values)
def test_dispatch_sets_the_deadline_of_the_category(people, category):
    incident = case(S.VERIFIED, category=category)
    entry = workflow.apply(incident, "dispatch", people["dispatcher"], now=T0)
    incident.refresh_from_db()
    assert incident.deadline == T0 + dt.timedelta(hours=DEFAULT_HOURS[category])
    assert entry.data["deadline"] == incident.deadline.isoformat()


def test_every_category_has_a_default_deadline_and_emergencies_the_shortest():
    assert set(DEFAULT_HOURS) == set(Incident.Category.values)
    assert DEFAULT_HOURS["emergency"] == 2 == min(DEFAULT_HOURS.values())
    assert (DEFAULT_HOURS["safety_hazard"], DEFAULT_HOURS["environment"]) == (24, 48)


def test_a_deadline_set_in_the_admin_overrides_the_default(people):
    CaseDeadline.objects.create(category="emergency", hours=1)
    assert hours_for("emergency") == 1
    assert hours_for("noise") == DEFAULT_HOURS["noise"]
    incident = case(S.VERIFIED, category="emergency")
    workflow.apply(incident, "dispatch", people["dispatcher"], now=T0)
    assert incident.deadline == T0 + dt.timedelta(hours=1)


def test_sending_back_after_a_failed_check_dispatches_again_with_a_new_deadline(people):
    incident = case(S.FEEDBACK, category="noise", deadline=T0)
    later = T0 + dt.timedelta(days=2)
    workflow.apply(incident, "send_back", people["dispatcher"], "噪音仍在", now=later)
    incident.refresh_from_db()
    assert incident.status == S.DISPATCHED
    assert incident.deadline == deadline_for("noise", later)


def test_an_extension_adds_hours_to_the_deadline_and_keeps_the_status(people):
    incident = case(S.HANDLING, deadline=T0)
    entry = workflow.apply(
        incident, "extend", people["grid_staff"], "等待物业配合", hours=12, now=T0
    )
    incident.refresh_from_db()
    assert incident.status == S.HANDLING
    assert incident.deadline == T0 + dt.timedelta(hours=12)
    assert (entry.from_status, entry.to_status, entry.note) == (
        S.HANDLING,
        S.HANDLING,
        "等待物业配合",
    )
    assert entry.data == {
        "hours": 12,
        "deadline_before": T0.isoformat(),
        "deadline": incident.deadline.isoformat(),
    }


def test_overdue_means_open_with_a_deadline_that_has_passed():
    late = case(S.HANDLING, deadline=T0)
    on_time = case(S.HANDLING, deadline=T0 + dt.timedelta(hours=2))
    closed_late = case(S.CLOSED, deadline=T0)
    no_deadline = case(S.RECEIVED)
    now = T0 + dt.timedelta(hours=1)
    assert [c.is_overdue(now) for c in (late, on_time, closed_late, no_deadline)] == [
        True,
        False,
        False,
        False,
    ]
    assert list(Incident.objects.overdue(now)) == [late]


# --- the sweep to backlog -----------------------------------------------------------------------


def test_the_sweep_moves_overdue_dispatched_and_handling_cases_to_backlog(people):
    dispatched = case(S.DISPATCHED, deadline=T0)
    handling = case(S.HANDLING, deadline=T0 + dt.timedelta(minutes=30))
    in_time = case(S.HANDLING, deadline=T0 + dt.timedelta(hours=3))
    feedback = case(S.FEEDBACK, deadline=T0)
    now = T0 + dt.timedelta(hours=1)
    assert workflow.sweep_backlog(now, dry_run=True) == {"dispatched": 1, "handling": 1}
    assert Incident.objects.filter(status=S.BACKLOG).count() == 0

    assert workflow.sweep_backlog(now) == {"dispatched": 1, "handling": 1}
    status = dict(Incident.objects.values_list("id", "status"))
    assert status == {
        dispatched.pk: S.BACKLOG,
        handling.pk: S.BACKLOG,
        in_time.pk: S.HANDLING,
        feedback.pk: S.FEEDBACK,
    }
    entry = IncidentTransition.objects.get(incident=dispatched)
    assert (entry.action, entry.from_status, entry.to_status) == (
        "backlog",
        S.DISPATCHED,
        S.BACKLOG,
    )
    assert (entry.user, entry.username, entry.at) == (None, "", now)
    assert entry.note == workflow.SWEEP_NOTE
    assert dt.datetime.fromisoformat(entry.data["deadline"]) == T0
    assert workflow.sweep_backlog(now) == {}


def test_the_sweep_is_one_statement_whatever_the_number_of_cases(people):
    for minutes in range(20):
        case(S.HANDLING, deadline=T0 + dt.timedelta(minutes=minutes))
    with CaptureQueriesContext(connection) as queries:
        moved = workflow.sweep_backlog(T0 + dt.timedelta(hours=1))
    assert moved == {"handling": 20}
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1
    assert "UPDATE" in statements[0] and "INSERT" in statements[0]
    assert IncidentTransition.objects.filter(action="backlog", user=None).count() == 20


def test_the_sweep_command_prints_what_it_moved(capsys):
    case(S.DISPATCHED, deadline=timezone.now() - dt.timedelta(hours=1))
    case(S.HANDLING, deadline=timezone.now() - dt.timedelta(hours=1))
    call_command("sweep_backlog", "--dry-run")
    assert "would move: 2" in capsys.readouterr().out
    call_command("sweep_backlog")
    out = capsys.readouterr().out
    assert "dispatched → backlog: 1" in out and "handling → backlog: 1" in out
    assert "moved: 2" in out


def test_a_dispatcher_may_put_a_case_in_backlog_and_staff_bring_it_back(people):
    incident = case(S.HANDLING, deadline=T0)
    workflow.apply(incident, "backlog", people["dispatcher"], "等待上级批复")
    workflow.apply(incident, "extend", people["grid_staff"], "批复已到", hours=48, now=T0)
    workflow.apply(incident, "resume", people["grid_staff"], now=T0)
    incident.refresh_from_db()
    assert (incident.status, incident.deadline) == (S.HANDLING, T0 + dt.timedelta(hours=48))


def test_a_case_resumed_past_its_deadline_gets_a_fresh_one_and_stays_out_of_backlog(people):
    incident = case(S.HANDLING, deadline=T0)
    later = T0 + dt.timedelta(days=3)
    assert workflow.sweep_backlog(later) == {"handling": 1}
    workflow.apply(incident, "resume", people["grid_staff"], now=later)
    incident.refresh_from_db()
    assert incident.deadline == deadline_for(incident.category, later)
    assert workflow.sweep_backlog(later + dt.timedelta(minutes=10)) == {}


# --- the timeline -------------------------------------------------------------------------------


def test_the_timeline_records_who_when_from_to_note_and_photo(people):
    worker, dispatcher = people["grid_staff"], people["dispatcher"]
    incident = Incident(category=Incident.Category.ENVIRONMENT, location=IN_G1)
    workflow.open_case(incident, dispatcher, now=T0)
    workflow.apply(
        incident,
        "verify",
        worker,
        "  现场确有垃圾堆放  ",
        photo=SimpleUploadedFile("现场.jpg", JPEG, "image/jpeg"),
        now=T0 + dt.timedelta(minutes=20),
    )
    opened, verified = incident.transitions.all()
    assert (opened.action, opened.from_status, opened.to_status) == ("open", "", S.RECEIVED)
    assert (opened.username, opened.at, opened.to_level) == ("dispatcher", T0, "grid")
    assert verified.user == worker and verified.username == "g1-worker"
    assert verified.at == T0 + dt.timedelta(minutes=20)
    assert (verified.from_status, verified.to_status) == (S.RECEIVED, S.VERIFIED)
    assert (verified.from_level, verified.to_level) == ("grid", "grid")
    assert verified.note == "现场确有垃圾堆放"
    # Stored under the month of the upload, by a name that tells nothing of the original.
    assert re.fullmatch(r"incidents/\d{4}/\d{2}/[0-9a-f]{32}\.jpg", verified.photo.name)
    assert verified.photo.read() == JPEG


def test_a_duplicate_report_is_logged_without_changing_the_status(people):
    incident = case(S.HANDLING, deadline=T0)
    entry = workflow.add_report(incident, people["grid_staff"], "居民再次反映")
    incident.refresh_from_db()
    assert incident.status == S.HANDLING
    assert (entry.action, entry.from_status, entry.to_status, entry.note) == (
        "report",
        S.HANDLING,
        S.HANDLING,
        "居民再次反映",
    )
    with pytest.raises(WorkflowError) as refused:
        workflow.add_report(case(S.RATED), people["grid_staff"], "又来了")
    assert refused.value.status == 409


# --- the grid a case was reported in ------------------------------------------------------------


def test_the_reported_grid_code_is_kept_after_that_grid_is_merged_away(world):
    incident = Incident.objects.create(category="noise", location=IN_G1)
    incident.refresh_from_db()
    assert (incident.reported_grid, incident.reported_grid_code) == (world["g1"], G1)
    editing.merge(world["g2"].pk, 1, world["g1"].pk, 1)
    incident.refresh_from_db()
    assert incident.reported_grid is None
    assert incident.grid == world["g2"]
    assert incident.reported_grid_code == G1


def test_the_reported_grid_code_once_set_is_never_blanked(world):
    incident = Incident.objects.create(category="noise", location=IN_G1)
    Incident.objects.filter(pk=incident.pk).update(reported_grid_code="", reported_grid=None)
    incident.refresh_from_db()
    assert incident.reported_grid_code == G1


def test_a_case_reported_outside_every_grid_has_no_reported_grid_code(world):
    incident = Incident.objects.create(
        category="noise", location=Point(98.0036, 39.0014, srid=4326)
    )
    incident.refresh_from_db()
    assert (incident.grid, incident.reported_grid_code) == (None, "")


def test_a_case_moved_by_a_boundary_edit_keeps_the_reported_grid_code(world):
    incident = Incident.objects.create(category="noise", location=IN_G2)
    incident.refresh_from_db()
    first = incident.reported_grid_code
    Incident.objects.filter(pk=incident.pk).update(location=IN_G1)
    Incident.objects.get(pk=incident.pk).save()
    incident.refresh_from_db()
    assert incident.grid == world["g1"]
    assert incident.reported_grid_code == first != G1
