"""Specification of the audit log (docs/privacy.md): every read of private fields and every change
of households, visits and colours is one entry per request — who, when, which rows, which
fields, through what — and never the values read or written."""

from __future__ import annotations

import csv

import pytest
from django.contrib.auth.models import Permission, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from gridmap import audit
from gridmap.models import AuditEntry, StaffMember
from gridmap.roles import ROLES
from layers import visits
from layers.exchange.importing import ImportOptions, import_layer
from layers.models import Building, Household, Incident, Visit
from tests.conftest import box, user_with_role

pytestmark = pytest.mark.django_db

A = AuditEntry.Action
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
NAME, PHONE, ROOM = "欧阳秀英", "13912345678", "R-7731"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def building(world) -> Building:
    building = Building.objects.create(
        name="1号楼", road="新华北路", number="1", footprint=box(98.0005, 39.0005, 98.001, 39.001)
    )
    building.refresh_from_db()
    return building


@pytest.fixture
def homes(building) -> list[Household]:
    """Two red households of G1, the second without personal data filled in."""
    return [
        Household.objects.create(
            building=building, color="red", room=ROOM, head_name=NAME, head_phone=PHONE
        ),
        Household.objects.create(building=building, color="red"),
    ]


def staff_of(world, unit: str, role: str = "grid_worker", username: str = "staff") -> User:
    """A user of `role` with a staff post at `unit` (g1, node …)."""
    user = user_with_role(role, username)
    StaffMember.objects.create(unit=world[unit], role="grid_leader", name="王芳", user=user)
    return user


def api_of(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def entries(**filters) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(**filters).order_by("id"))


def no_values_in(entry: AuditEntry) -> bool:
    text = " ".join(
        str(getattr(entry, f.name)) for f in AuditEntry._meta.get_fields() if f.concrete
    )
    return not any(value in text for value in (NAME, PHONE, ROOM))


# --- reads --------------------------------------------------------------------------------------


def test_a_dispatcher_with_change_household_reading_dispatch_logs_one_read_of_the_households(
    world, building, homes
):
    dispatcher = staff_of(world, "node", "dispatcher", "dispatcher")
    dispatcher.user_permissions.add(Permission.objects.get(codename="change_household"))
    anchor = building.anchor
    response = api_of(dispatcher).get(
        "/api/dispatch/", {"lon": anchor.x, "lat": anchor.y}, REMOTE_ADDR="10.1.2.3"
    )
    assert {p["head_name"] for p in response.json()["households"]["points"]} == {NAME, ""}
    [entry] = entries()
    assert (entry.user, entry.username, entry.action) == (dispatcher, "dispatcher", A.READ_PRIVATE)
    assert entry.model == "layers.household"
    assert (entry.object_ids, entry.count) == (sorted(h.pk for h in homes), 2)
    assert entry.fields == list(Household.PRIVATE_FIELDS)
    # The path, never the query string (a point here; a name typed into a search box elsewhere).
    assert (entry.via, entry.remote_addr) == ("api:/api/dispatch/", "10.1.2.3")
    assert no_values_in(entry)


@pytest.mark.parametrize("role", ["viewer", "dispatcher", "planner"])
def test_a_read_without_private_fields_logs_nothing(world, building, homes, role):
    anchor = building.anchor
    response = api_of(user_with_role(role)).get(
        "/api/dispatch/", {"lon": anchor.x, "lat": anchor.y}
    )
    assert response.status_code == 200 and NAME not in response.content.decode()
    assert not AuditEntry.objects.exists()


def test_dispatch_logs_only_the_households_it_listed(world, building, homes):
    """A grid worker of G2 gets the counts near G1, not G1's households: nothing was read."""
    anchor = building.anchor
    other = api_of(staff_of(world, "g2"))
    households = other.get("/api/dispatch/", {"lon": anchor.x, "lat": anchor.y}).json()
    assert (households["households"]["red"], households["households"]["points"]) == (2, [])
    assert not AuditEntry.objects.exists()


def test_the_due_list_logs_one_entry_for_all_the_households_it_shows(world, homes):
    api = api_of(staff_of(world, "node"))
    body = api.get("/api/visits/due/", {"node": world["node"].id}).json()
    assert len(body["households"]) == 2
    [entry] = entries()
    assert entry.object_ids == sorted(h.pk for h in homes)
    assert entry.via == "api:/api/visits/due/"
    api.get("/api/visits/due/", {"node": world["node"].id, "status": "fine"})
    assert AuditEntry.objects.count() == 1  # nothing shown, nothing logged


def test_a_households_history_logs_its_private_fields_and_what_visits_record(world, homes):
    worker = staff_of(world, "g1")
    visits.record_visit(homes[0], worker, "独居", photo=SimpleUploadedFile("v.jpg", JPEG))
    AuditEntry.objects.all().delete()
    api = api_of(worker)
    api.get(f"/api/households/{homes[0].pk}/visits/")
    [entry] = entries()
    assert (entry.action, entry.object_ids) == (A.READ_PRIVATE, [homes[0].pk])
    assert entry.fields == [
        *Household.PRIVATE_FIELDS,
        "visits.note",
        "visits.photo",
        "color_changes.reason",
    ]
    visit = Visit.objects.get()
    assert api.get(f"/api/households/{homes[0].pk}/visits/{visit.pk}/photo/").status_code == 200
    photo = entries()[-1]
    assert (photo.model, photo.object_ids, photo.fields) == ("layers.visit", [visit.pk], ["photo"])


def test_a_planner_reading_a_households_history_logs_nothing(world, homes):
    api_of(user_with_role("planner")).get(f"/api/households/{homes[0].pk}/visits/")
    assert not AuditEntry.objects.exists()


def test_reading_a_case_with_a_description_logs_it(world, building):
    incident = Incident.objects.create(
        category="noise", description=f"{NAME} {PHONE} 投诉噪音", location=building.anchor
    )
    viewer = user_with_role("viewer")
    api_of(viewer).get(f"/api/incidents/{incident.pk}/")
    [entry] = entries()
    assert (entry.model, entry.object_ids, entry.fields) == (
        "layers.incident",
        [incident.pk],
        ["description"],
    )
    assert no_values_in(entry)


# --- changes ------------------------------------------------------------------------------------


def test_recording_a_visit_logs_its_creation_and_the_private_read_of_the_answer(world, homes):
    worker = staff_of(world, "g1")
    response = api_of(worker).post(
        f"/api/households/{homes[0].pk}/visits/", {"note": f"{NAME}不在家"}, format="json"
    )
    assert response.status_code == 201
    created, read = entries()
    visit = Visit.objects.get()
    assert (created.action, created.model, created.object_ids) == (
        A.CREATE,
        "layers.visit",
        [visit.pk],
    )
    assert created.fields == ["household", "visited_at", "note"]  # no photo
    assert (created.username, created.via) == (
        "staff",
        f"api:/api/households/{homes[0].pk}/visits/",
    )
    assert (read.action, read.object_ids) == (A.READ_PRIVATE, [homes[0].pk])
    assert no_values_in(created) and no_values_in(read)


def test_changing_a_colour_logs_the_change_of_the_households_colour(world, homes):
    worker = staff_of(world, "g1")
    response = api_of(worker).post(
        f"/api/households/{homes[0].pk}/color/", {"color": "orange", "reason": "好转"}
    )
    assert response.status_code == 200
    change = entries(action=A.CHANGE)
    assert [(e.model, e.object_ids, e.fields, e.user) for e in change] == [
        ("layers.household", [homes[0].pk], ["color"], worker)
    ]


def test_a_refused_change_logs_nothing(world, homes):
    other = api_of(staff_of(world, "g2"))
    response = other.post(f"/api/households/{homes[0].pk}/color/", {"color": "blue", "reason": "x"})
    assert response.status_code == 403
    with pytest.raises(visits.VisitError):
        visits.change_color(homes[0], "red", "same colour", staff_of(world, "g1", username="w1"))
    assert not AuditEntry.objects.exists()


def test_a_committed_household_import_logs_the_households_created_and_a_dry_run_nothing(
    world, building, tmp_path
):
    path = tmp_path / "households.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["address", "room", "head_name", "head_phone"])
        writer.writerow(["新华北路1", "101", NAME, PHONE])
    import_layer("households", path)
    assert not AuditEntry.objects.exists()
    admin = User.objects.create_superuser("importer")
    report = import_layer("households", path, ImportOptions(commit=True), user=admin)
    assert report.committed
    [entry] = entries()
    assert (entry.action, entry.object_ids, entry.username, entry.via) == (
        A.CREATE,
        [Household.objects.get().pk],
        "importer",
        "import",
    )
    assert {"room", "head_name", "head_phone"} <= set(entry.fields)
    assert no_values_in(entry)


# --- the admin ----------------------------------------------------------------------------------


@pytest.fixture
def admin_staff(world) -> Client:
    """A grid worker of G1 signed in to the admin."""
    user = staff_of(world, "g1")
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def household_url(view: str, *args) -> str:
    return reverse(f"admin:layers_household_{view}", args=args)


def test_the_household_admin_logs_the_rows_a_page_shows_with_private_fields(
    admin_staff, world, homes
):
    listing = admin_staff.get(household_url("changelist"), {"q": NAME})
    assert NAME in listing.content.decode()
    [entry] = entries()
    assert (entry.action, entry.object_ids) == (A.READ_PRIVATE, [homes[0].pk])
    assert set(entry.fields) == {"room", "head_name", "head_phone"}
    assert entry.via == "admin:/admin/layers/household/"
    assert admin_staff.get(household_url("change", homes[1].pk)).status_code == 200
    page = entries()[-1]
    assert (page.object_ids, page.fields) == ([homes[1].pk], list(Household.PRIVATE_FIELDS))


def test_a_household_change_in_the_admin_is_logged_with_the_fields_changed(
    admin_staff, world, homes
):
    household = homes[0]
    form = {
        "building": household.building_id,
        "unit_no": 1,
        "floor": 1,
        "room": ROOM,
        "residents": 3,
        "aged_60_plus": 0,
        "disabled": 0,
        "floating": 0,
        "retired": 0,
        "unemployed": 0,
        "party_members": 0,
        "head_name": NAME,
        "head_phone": "13700000000",
        "location": "",
    }
    response = admin_staff.post(household_url("change", household.pk), form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    [change] = entries(action=A.CHANGE)
    assert (change.object_ids, set(change.fields)) == ([household.pk], {"residents", "head_phone"})
    assert change.via == f"admin:/admin/layers/household/{household.pk}/change/"
    assert no_values_in(change)


def test_a_household_deleted_in_the_admin_is_logged(admin_client, homes):
    response = admin_client.post(household_url("delete", homes[1].pk), {"post": "yes"})
    assert response.status_code == 302
    [entry] = entries(action=A.DELETE)
    assert (entry.object_ids, entry.username) == ([homes[1].pk], "admin")


def test_the_audit_log_is_read_only_in_the_admin(admin_client, world, homes):
    entry = audit.log_read(None, Household, [homes[0].pk], ["head_name"], "test")
    url = reverse("admin:gridmap_auditentry_changelist")
    assert admin_client.get(url).status_code == 200
    page = admin_client.get(reverse("admin:gridmap_auditentry_change", args=[entry.pk]))
    assert page.status_code == 200 and not page.context["has_change_permission"]
    assert admin_client.get(reverse("admin:gridmap_auditentry_add")).status_code == 403
    delete = reverse("admin:gridmap_auditentry_delete", args=[entry.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_no_role_may_read_the_audit_log():
    assert not any(
        codename.endswith("_auditentry") for perms in ROLES.values() for _, codename in perms
    )


# --- the service --------------------------------------------------------------------------------


def test_nothing_read_is_not_logged_and_ids_are_a_set(world, homes):
    assert audit.log_read(None, Household, [], ["head_name"], "test") is None
    entry = audit.log_read(None, "layers.household", [3, 1, 3], ["room", "room"], "test")
    assert (entry.object_ids, entry.count, entry.fields, entry.username) == (
        [1, 3],
        2,
        ["room"],
        "",
    )
