"""Who sees what (docs/privacy.md), as a matrix: every role against every endpoint and page, the
status each gets, and for what shows households, whether their private fields (name, phone,
room) and what visits record about them (notes, reasons) reach the role. Every URL the resolver
knows must have its row here: a new endpoint without one fails
test_every_url_has_a_row_in_the_matrix."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from gridmap.models import StaffMember, UnitEdit
from layers import workflow
from layers.models import Building, ColorChange, Household, Incident, Visit
from tests.conftest import box

pytestmark = pytest.mark.django_db

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64

# What the household of G1 holds that only its grid staff may read, as recognisable values.
NAME, PHONE, ROOM = "欧阳秀英", "13912345678", "R-7731"
NOTE, REASON = "NOTE-5521 独居", "REASON-8812 病重"
PRIVATE_VALUES = (NAME, PHONE, ROOM, NOTE, REASON)
# As JSON keys: how an API answer would name them.
PRIVATE_NAMES = tuple(f'"{name}"' for name in Household.PRIVATE_FIELDS)

# Role → (group, the unit of the user's staff post); None: an anonymous visitor.
ROLES: dict[str, tuple[str | None, str | None] | None] = {
    "planner": ("planner", None),
    "dispatcher": ("dispatcher", None),
    "grid_worker_own": ("grid_worker", "g1"),  # a post at G1, the household's grid
    "grid_worker_other": ("grid_worker", "g2"),  # a post at G2 only
    "community_lead": ("grid_worker", "node"),  # 社区负责人: a post at the community
    "street_lead": ("grid_worker", "segment"),  # 街道负责人: a post at the street office
    "viewer": ("viewer", None),
    "no_role": (None, None),
    "anonymous": None,
}
SIGNED_IN = [role for role, setup in ROLES.items() if setup is not None and setup[0]]
# The grid staff whose posts cover G1: the only roles that read the household's private data.
G1_STAFF = frozenset({"grid_worker_own", "community_lead", "street_lead"})


def row(default: int, *, anonymous: int = 401, no_role: int = 403, **roles: int) -> dict:
    """The status of every role: `default` for each signed-in role unless named."""
    return {
        **dict.fromkeys(SIGNED_IN, default),
        "no_role": no_role,
        "anonymous": anonymous,
        **roles,
    }


def only(roles, status: int, otherwise: int, **rest: int) -> dict:
    """`status` for `roles`, `otherwise` for the other signed-in roles."""
    return row(otherwise, **dict.fromkeys(roles, status), **rest)


def page(default: int = 200, **roles: int) -> dict:
    """A page: the anonymous visitor is sent to log in."""
    return row(default, anonymous=302, **roles)


@dataclass(frozen=True)
class Case:
    route: str  # the URL's name, or its pattern when it has none
    url: str  # str.format()-ed with the scene's ids
    expect: dict[str, int]
    method: str = "get"
    data: dict | None = None
    # Roles that must get the household's private values (`shows`); no other role may get any.
    private_for: frozenset[str] = field(default_factory=frozenset)
    shows: tuple[str, ...] = (NAME, PHONE, ROOM)
    # A JSON answer about households: the private field names may not appear either.
    households: bool = False
    # Sent as a form (multipart), not JSON: file uploads.
    form: bool = False
    # A known gap: the row says what should happen and fails until it does (strict xfail).
    gap: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.url}"


PLANNER_POSTS = only(["planner"], 400, 403)
EDIT = dict(method="post", data={})
IMPORT = dict(method="post", data={}, form=True)
API_VIEW = row(200)  # gridmap.view_gridunit or the like, which every role has

MATRIX: list[Case] = [
    # --- pages -------------------------------------------------------------------------------
    Case("home", "/", row(200, anonymous=200, no_role=200)),
    Case("favicon.ico", "/favicon.ico", row(301, anonymous=301, no_role=301)),
    Case("map-plan", "/map/plan/", page(200, no_role=403)),
    Case("map-dispatch", "/map/dispatch/", page(200, no_role=403)),
    Case("map-coverage", "/map/coverage/", page(200, no_role=403)),
    Case(
        "map-grid",
        "/map/grid/?grid={g1}",
        page(200, grid_worker_other=403, viewer=403, no_role=403),
    ),
    Case("map-dashboard", "/map/dashboard/?unit={node}", page(200, no_role=403)),
    # --- the grid ----------------------------------------------------------------------------
    Case("api-root", "/api/", row(200, no_role=200)),
    Case("locate", "/api/locate/?lon=98.001&lat=39.001", API_VIEW),
    Case("topology", "/api/topology/", API_VIEW),
    Case("unit-list", "/api/units/", API_VIEW),
    Case("unit-detail", "/api/units/{g1}/", API_VIEW),
    Case("unit-summary", "/api/units/{g1}/summary/", API_VIEW),
    Case("unit-history", "/api/units/{g1}/history/", API_VIEW),
    Case("unit-reshape", "/api/units/{g1}/reshape/", PLANNER_POSTS, **EDIT),
    Case("unit-split", "/api/units/{g1}/split/", PLANNER_POSTS, **EDIT),
    Case("unit-merge", "/api/units/{g1}/merge/", PLANNER_POSTS, **EDIT),
    Case("unit-transfer", "/api/units/{g1}/transfer/", PLANNER_POSTS, **EDIT),
    Case("unit-restore", "/api/units/{g1}/restore/", PLANNER_POSTS, **EDIT),
    Case("edits", "/api/edits/", API_VIEW),
    Case("edit-detail", "/api/edits/{edit}/", API_VIEW),
    # 422: the edit wrote no versions to undo; what matters is that only the planner gets past.
    Case("edit-undo", "/api/edits/{edit}/undo/", only(["planner"], 422, 403), **EDIT),
    # The API's description: public, no data.
    Case("schema", "/api/schema/", row(200, anonymous=200, no_role=200)),
    Case("api-docs", "/api/docs/", row(200, anonymous=200, no_role=200)),
    Case("^api/", "/api/no-such-thing/", row(404, anonymous=404, no_role=404)),
    # --- map layers --------------------------------------------------------------------------
    Case("layer-buildings", "/api/layers/buildings/?bbox=98,39,98.01,39.01", API_VIEW),
    Case("layer-cameras", "/api/layers/cameras/?bbox=98,39,98.01,39.01", API_VIEW),
    Case("layer-facilities", "/api/layers/facilities/?bbox=98,39,98.01,39.01", API_VIEW),
    Case(
        "layer-households",
        "/api/layers/households/?bbox=98,39,98.01,39.01&group=building",
        API_VIEW,
        households=True,
    ),
    Case("layer-load", "/api/layers/load/?level=grid&parent={node}", API_VIEW),
    Case("search", "/api/search/?q=新华北路", API_VIEW),
    # --- dispatch and cases ------------------------------------------------------------------
    Case(
        "dispatch",
        "/api/dispatch/?lon={lon}&lat={lat}",
        API_VIEW,
        private_for=G1_STAFF,
        households=True,
    ),
    Case("dispatch-cameras", "/api/dispatch/cameras/?bbox=98,39,98.01,39.01", API_VIEW),
    Case("incidents", "/api/incidents/", API_VIEW),
    Case(
        "incidents",
        "/api/incidents/",
        only(["planner", "viewer"], 403, 400),
        method="post",
        data={},
    ),
    Case("incident-counts", "/api/incidents/counts/", API_VIEW),
    Case("incident-detail", "/api/incidents/{incident}/", API_VIEW),
    # The body is checked first; who may act is the workflow's to say (tests/test_workflow.py).
    Case("incident-transition", "/api/incidents/{incident}/transition/", row(400), **EDIT),
    Case("incident-escalate", "/api/incidents/{incident}/escalate/", row(400), **EDIT),
    # A duplicate report (the note is optional): whoever may report a case, wherever it is.
    Case(
        "incident-reports",
        "/api/incidents/{incident}/reports/",
        only(["planner", "viewer"], 403, 201),
        **EDIT,
    ),
    Case("incident-photo", "/api/incidents/{incident}/photos/{transition}/", API_VIEW),
    # --- service coverage --------------------------------------------------------------------
    Case("coverage-isochrones", "/api/coverage/isochrones/?kind=medical", API_VIEW),
    Case("coverage-units", "/api/coverage/units/?kind=medical&parent={node}", API_VIEW),
    Case("coverage-unit", "/api/coverage/units/{node}/", API_VIEW),
    Case("coverage-holes", "/api/coverage/holes/?kind=medical&unit={node}", API_VIEW),
    Case("coverage-buildings", "/api/coverage/buildings/?kind=medical&unit={node}", API_VIEW),
    Case(
        "coverage-households",
        "/api/coverage/households/?unit={g1}",
        row(200, viewer=403, grid_worker_other=403),
        households=True,
    ),
    Case("coverage-siting", "/api/coverage/siting/?kind=medical&unit={node}", API_VIEW),
    # --- visits ------------------------------------------------------------------------------
    Case(
        "visits-due",
        "/api/visits/due/?grid={g1}",
        row(200, grid_worker_other=403, viewer=403),
        private_for=G1_STAFF,
        households=True,
    ),
    Case(
        "visits-due",
        "/api/visits/due/?node={node}",
        row(200, grid_worker_own=403, grid_worker_other=403, viewer=403),
        private_for=frozenset({"community_lead", "street_lead"}),
        households=True,
    ),
    # Counts, no households: every role that may see the grid sees them, grid staff included.
    Case("visits-workload", "/api/visits/workload/?grid={g1}", row(200)),
    Case("visits-workload", "/api/visits/workload/?segment={segment}", row(200)),
    Case(
        "household-visits",
        "/api/households/{household}/visits/",
        row(200, grid_worker_other=403, viewer=403),
        private_for=G1_STAFF,
        shows=PRIVATE_VALUES,
        households=True,
    ),
    Case(
        "household-visits",
        "/api/households/{household}/visits/",
        only(G1_STAFF, 201, 403),
        method="post",
        data={"note": "走访"},
        private_for=G1_STAFF,
        households=True,
    ),
    Case(
        "visit-photo",
        "/api/households/{household}/visits/{visit}/photo/",
        only(G1_STAFF, 200, 403),
    ),
    Case(
        "household-color",
        "/api/households/{household}/color/",
        only(G1_STAFF, 200, 403),
        method="post",
        data={"color": "orange", "reason": "好转"},
        households=True,
        private_for=G1_STAFF,
    ),
    # --- workload ----------------------------------------------------------------------------
    Case("workload-grids", "/api/workload/grids/?node={node}", row(200)),
    Case("workload-nodes", "/api/workload/nodes/?node={node}", row(200)),
    Case("workload-rebalance", "/api/workload/rebalance/?node={node}", only(["planner"], 200, 403)),
    Case("workload-rebalance-apply", "/api/workload/rebalance/apply/", PLANNER_POSTS, **EDIT),
    # --- import (an empty form: 400 for who may import, 403 for who may not) ------------------
    Case("import-units", "/api/import/units/", PLANNER_POSTS, **IMPORT),
    Case("import-layer", "/api/import/buildings/", PLANNER_POSTS, **IMPORT),
    # Households: add_household and change_household, which no role has (superusers only).
    Case("import-layer", "/api/import/households/", row(403), **IMPORT),
    # --- exchange: never personal data -------------------------------------------------------
    Case("export-layer", "/api/export/households.geojson", API_VIEW, households=True),
    Case("export-layer", "/api/export/incidents.csv", API_VIEW),
    Case("ogc-landing", "/ogc/", row(200, anonymous=200, no_role=200)),
    Case("ogc-conformance", "/ogc/conformance", row(200, anonymous=200, no_role=200)),
    Case("ogc-api", "/ogc/api", row(200, anonymous=200, no_role=200)),
    Case("ogc-collections", "/ogc/collections", API_VIEW),
    Case("ogc-collection", "/ogc/collections/households", API_VIEW),
    Case("ogc-items", "/ogc/collections/households/items", API_VIEW, households=True),
    Case("ogc-item", "/ogc/collections/households/items/{building}", API_VIEW, households=True),
    Case("ogc/", "/ogc/no-such-thing", row(404, anonymous=404, no_role=404)),
    Case("tile", "/tiles/households/{tile}.pbf", API_VIEW, households=True),
    Case("tilejson", "/tiles/households.json", API_VIEW),
    Case("tiles/", "/tiles/no/such/thing", row(404, anonymous=404, no_role=404)),
    # --- the admin's household pages ---------------------------------------------------------
    Case(
        "admin:layers_household_changelist",
        "/admin/layers/household/",
        page(200, viewer=403, no_role=403),
        private_for=G1_STAFF,
    ),
    Case(
        "admin:layers_household_change",
        "/admin/layers/household/{household}/change/",
        page(200, viewer=403, no_role=403, grid_worker_other=302),
        private_for=G1_STAFF,
    ),
]

# URLs without a row, and why.
NOT_IN_MATRIX = {
    "set_language": "i18n: switches the interface language, no data",
}


# --- the scene --------------------------------------------------------------------------------


def tile_of(lon: float, lat: float, z: int) -> str:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return f"{z}/{x}/{y}"


@pytest.fixture
def scene(world, settings, tmp_path) -> dict:
    """A red household in G1 with a visit (note, photo) and a class change (reason); a case in
    G1 with a photo in its timeline; an edit of the grid. Returns the ids the URLs need."""
    settings.MEDIA_ROOT = tmp_path
    building = Building.objects.create(
        name="1号楼", road="新华北路", number="1", footprint=box(98.0005, 39.0005, 98.001, 39.001)
    )
    household = Household.objects.create(
        building=building, color="red", room=ROOM, head_name=NAME, head_phone=PHONE
    )
    assert household.grid_id == world["g1"].id
    visit = Visit.objects.create(
        household=household,
        visited_at=timezone.now() - dt.timedelta(days=1),
        note=NOTE,
        photo=SimpleUploadedFile("v.jpg", JPEG),
    )
    ColorChange.objects.create(
        household=household, from_color="orange", to_color="red", reason=REASON
    )
    admin = User.objects.create_superuser("scene-admin")
    building.refresh_from_db()
    anchor = building.anchor
    incident = Incident(category="noise", description="楼道堆物", location=anchor)
    workflow.open_case(incident, admin)
    report = workflow.add_report(incident, admin, "又有人报", photo=SimpleUploadedFile("p", JPEG))
    edit = UnitEdit.objects.create(operation=UnitEdit.Operation.RESHAPE, username="planner")
    return {
        **{key: unit.id for key, unit in world.items()},
        "household": household.id,
        "visit": visit.id,
        "building": building.id,
        "incident": incident.id,
        "transition": report.id,
        "edit": edit.id,
        "lon": anchor.x,
        "lat": anchor.y,
        "tile": tile_of(anchor.x, anchor.y, 16),
    }


@pytest.fixture
def clients(world) -> dict[str, Client]:
    """A client per role, signed in (staff, so that the admin is theirs to try)."""
    found = {}
    for role, setup in ROLES.items():
        client = Client()
        if setup is not None:
            group, post = setup
            user = User.objects.create_user(role, is_staff=True)
            if group:
                user.groups.add(Group.objects.get(name=group))
            if post:
                StaffMember.objects.create(
                    unit=world[post], role="community_lead", name=f"{role} 本人", user=user
                )
            client.force_login(user)
        found[role] = client
    return found


def content(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode("utf-8", errors="replace")


def send(client: Client, case: Case, ids: dict):
    url = case.url.format(**ids)
    if case.method == "get":
        return client.get(url)
    if case.form:
        return client.post(url, case.data)
    return client.post(url, json.dumps(case.data), content_type="application/json")


# --- the matrix -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=case.gap))
        if case.gap
        else case
        for case in MATRIX
    ],
    ids=lambda case: case.id,
)
def test_every_role_gets_what_the_matrix_says(scene, clients, case):
    wrong = []
    for role, client in clients.items():
        # Each role's request is rolled back, so one role's visit or colour change is not the
        # next role's starting point.
        with transaction.atomic():
            response = send(client, case, scene)
            text = content(response)
            transaction.set_rollback(True)
        if response.status_code != case.expect[role]:
            wrong.append(f"{role}: {response.status_code}, expected {case.expect[role]}")
            continue
        shown = [value for value in PRIVATE_VALUES if value in text]
        if role in case.private_for:
            if missing := [value for value in case.shows if value not in shown]:
                wrong.append(f"{role}: private values missing: {missing}")
        elif shown:
            wrong.append(f"{role}: private values leaked: {shown}")
        elif case.households and any(name in text for name in PRIVATE_NAMES):
            wrong.append(f"{role}: private field names leaked")
    assert not wrong, "\n".join(wrong)


def _routes(patterns, prefix: str = "", namespace: str | None = None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(
                pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace
            )
        elif isinstance(pattern, URLPattern):
            yield namespace, pattern.name or prefix + str(pattern.pattern)


def test_every_url_has_a_row_in_the_matrix():
    covered = {case.route for case in MATRIX} | set(NOT_IN_MATRIX)
    missing = {
        route
        for namespace, route in _routes(get_resolver().url_patterns)
        # The admin's own pages are guarded by its model permissions; its household pages,
        # which add row-level checks and personal data, are in the matrix.
        if namespace != "admin" and route not in covered
    }
    assert not missing, f"URLs without a row in the matrix: {sorted(missing)}"


def test_the_admin_rows_of_the_matrix_exist():
    for case in MATRIX:
        if case.route.startswith("admin:"):
            assert reverse(case.route, args=[1] if case.route.endswith("_change") else [])
