"""Specification of the admin: every model has one, its map works offline, grid fields are kept
by the assignment service, and household personal data is shown only to those allowed."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from django.contrib.staticfiles import finders
from django.urls import reverse

from gridmap.models import AuditEntry, GridUnit, StaffMember, UnitEdit, UnitVersion
from layers import workflow
from layers.models import (
    Building,
    Camera,
    CaseDeadline,
    ColorChange,
    ColorPolicy,
    Facility,
    Household,
    Incident,
    IncidentTransition,
    LayerPublication,
    PlatformToken,
    Road,
    ServiceCircle,
    Visit,
)

pytestmark = pytest.mark.django_db

# A 2 km square in Jiayuguan (620200) around the default map centre, split into two grids.
WEST, SOUTH, EAST, NORTH = 98.28, 39.79, 98.30, 39.81
MIDDLE = 98.29
INSIDE = Point(98.285, 39.80, srid=4326)  # in the western grid
# Any absolute or protocol-relative URL in a src or href attribute; group 1 is the host.
EXTERNAL_REF = re.compile(r"""(?:src|href)\s*=\s*["']\s*(?:https?:)?//([^/"'\s]+)""", re.IGNORECASE)
ADMIN_MODELS = [
    GridUnit,
    StaffMember,
    Building,
    Household,
    Camera,
    Facility,
    Road,
    Incident,
    CaseDeadline,
    PlatformToken,
    LayerPublication,
    ColorPolicy,
]
# Read-only: written by the edit service, the case workflow, layers.coverage and layers.visits.
HISTORY_MODELS = [
    UnitEdit,
    UnitVersion,
    IncidentTransition,
    ServiceCircle,
    Visit,
    ColorChange,
    AuditEntry,
]


def box(west: float, south: float, east: float, north: float) -> Polygon:
    polygon = Polygon.from_bbox((west, south, east, north))
    polygon.srid = 4326
    return polygon


def square(west: float, south: float, east: float, north: float) -> MultiPolygon:
    return MultiPolygon(box(west, south, east, north), srid=4326)


def widget_value(geom) -> str:
    """A geometry as the map widget posts it: GeoJSON in the map's Web Mercator."""
    return geom.transform(3857, clone=True).json


@pytest.fixture
def grid() -> GridUnit:
    """The western grid of a network, street and community that are all the same square."""
    unit = None
    for level, code, name in [
        ("network", "620200", "嘉峪关市"),
        ("segment", "620200001", "五一街道"),
        ("node", "620200001001", "建设社区"),
    ]:
        unit = GridUnit.objects.create(
            level=level, code=code, name=name, parent=unit, geom=square(WEST, SOUTH, EAST, NORTH)
        )
    GridUnit.objects.create(
        level="grid",
        code="620200001001002",
        name="第二网格",
        parent=unit,
        geom=square(MIDDLE, SOUTH, EAST, NORTH),
    )
    return GridUnit.objects.create(
        level="grid",
        code="620200001001001",
        name="第一网格",
        parent=unit,
        geom=square(WEST, SOUTH, MIDDLE, NORTH),
    )


@pytest.fixture
def rows(grid: GridUnit) -> dict:
    """One row of every model, so that changelists render real rows."""
    building = Building.objects.create(
        name="1号楼",
        road="新华路",
        number="1",
        footprint=box(98.284, 39.799, 98.286, 39.801),
        grid=grid,
    )
    return {
        GridUnit: grid,
        StaffMember: StaffMember.objects.create(
            unit=grid, role=StaffMember.Role.GRID_LEADER, name="李明"
        ),
        Building: building,
        Household: Household.objects.create(
            building=building, room="301", head_name="张三", head_phone="13800000000", grid=grid
        ),
        Camera: Camera.objects.create(
            code="CAM-1", location=INSIDE, bearing=90, fov=60, range_m=50, grid=grid
        ),
        Facility: Facility.objects.create(
            kind=Facility.Kind.MEDICAL, name="社区卫生站", location=INSIDE, grid=grid
        ),
        Road: Road.objects.create(name="新华路", geom=box(WEST, SOUTH, EAST, NORTH).boundary),
        Incident: Incident.objects.create(
            category=Incident.Category.NOISE, location=INSIDE, grid=grid, reported_grid=grid
        ),
        CaseDeadline: CaseDeadline.objects.create(category=Incident.Category.EMERGENCY, hours=1),
        PlatformToken: PlatformToken.objects.create(name="城市大脑", layers=["units"]),
        LayerPublication: LayerPublication.objects.create(layer="facilities", anonymous=True),
        ColorPolicy: ColorPolicy.objects.create(
            network=grid.parent.parent.parent, color="green", period="month", role="grid_leader"
        ),
    }


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_model_of_the_grid_and_the_layers_has_an_admin():
    ours = [
        *apps.get_app_config("gridmap").get_models(),
        *apps.get_app_config("layers").get_models(),
    ]
    registered = ADMIN_MODELS + HISTORY_MODELS
    assert sorted(m._meta.label for m in ours) == sorted(m._meta.label for m in registered)
    assert all(admin.site.is_registered(model) for model in ours)


@pytest.mark.parametrize("model", ADMIN_MODELS, ids=lambda m: m._meta.model_name)
def test_changelist_add_and_change_pages_open(admin_client, rows, model):
    assert admin_client.get(admin_url(model, "changelist")).status_code == 200
    assert admin_client.get(admin_url(model, "changelist"), {"q": "1"}).status_code == 200
    assert admin_client.get(admin_url(model, "add")).status_code == 200
    assert admin_client.get(admin_url(model, "change", rows[model].pk)).status_code == 200


def test_a_platform_token_is_created_with_its_layers_and_revoked_not_deleted(admin_client, db):
    response = admin_client.post(
        admin_url(PlatformToken, "add"),
        {"name": "数字城管", "layers": ["units", "cameras"], "requests_per_minute": 60},
    )
    assert response.status_code == 302
    token = PlatformToken.objects.get(name="数字城管")
    assert token.layers == ["units", "cameras"] and len(token.key) == 40
    assert token.created_by.username == "admin"
    refused = admin_client.post(
        admin_url(PlatformToken, "add"),
        {"name": "x", "layers": ["people"], "requests_per_minute": 1},
    )
    assert refused.status_code == 200 and not PlatformToken.objects.filter(name="x").exists()
    admin_client.post(
        admin_url(PlatformToken, "changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert admin_client.get(admin_url(PlatformToken, "delete", token.pk)).status_code == 403


def test_history_is_listed_read_only(admin_client, rows):
    version = UnitVersion.objects.first()
    assert admin_client.get(admin_url(UnitVersion, "changelist")).status_code == 200
    assert admin_client.get(admin_url(UnitEdit, "changelist")).status_code == 200
    assert admin_client.get(admin_url(UnitVersion, "change", version.pk)).status_code == 200
    assert admin_client.get(admin_url(UnitVersion, "add")).status_code == 403


def test_grid_unit_change_page_shows_the_unit_on_the_map(admin_client, grid):
    html = admin_client.get(admin_url(GridUnit, "change", grid.pk)).content.decode()
    assert 'id="id_geom_map"' in html
    assert "new MapWidget(options)" in html
    assert '"type": "MultiPolygon"' in html  # the unit's geometry, in the widget's textarea


def test_change_page_loads_nothing_from_another_host(admin_client, grid):
    html = admin_client.get(admin_url(GridUnit, "change", grid.pk)).content.decode()
    assert [host for host in EXTERNAL_REF.findall(html) if host != "testserver"] == []
    assert "cdn.jsdelivr.net" not in html
    assert "earthdata.nasa.gov" not in html


def test_map_loads_the_vendored_openlayers(admin_client, grid):
    html = admin_client.get(admin_url(GridUnit, "change", grid.pk)).content.decode()
    assert 'src="/static/vendor/ol/ol.js"' in html
    assert 'href="/static/vendor/ol/ol.css"' in html


def test_vendored_openlayers_is_in_the_static_directory():
    for name in ("ol.js", "ol.css", "LICENSE.md"):
        path = settings.BASE_DIR / "static" / "vendor" / "ol" / name
        assert path.is_file() and path.stat().st_size > 0
        assert finders.find(f"vendor/ol/{name}") == str(path)
    assert (settings.BASE_DIR / "static" / "vendor" / "README.md").is_file()


def test_without_a_tile_url_the_map_requests_no_tiles(admin_client, grid, settings):
    settings.GRIDMAP_TILE_URL = ""
    html = admin_client.get(admin_url(GridUnit, "change", grid.pk)).content.decode()
    assert "ol.source.XYZ" not in html
    assert "ol.source.OSM" not in html
    scripts = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    assert scripts and not any(re.search(r"https?://", script) for script in scripts)


def test_with_a_tile_url_the_map_shows_those_tiles(admin_client, grid, settings):
    settings.GRIDMAP_TILE_URL = "https://tiles.example.cn/{z}/{x}/{y}.png"
    settings.GRIDMAP_TILE_ATTRIBUTION = "示例底图"
    html = admin_client.get(admin_url(GridUnit, "change", grid.pk)).content.decode()
    assert "new ol.source.XYZ" in html
    assert "tiles.example.cn/{z}/{x}/{y}.png" in html
    assert "示例底图" in html


def test_empty_map_opens_at_the_configured_centre_and_zoom(admin_client, settings):
    settings.GRIDMAP_DEFAULT_CENTER = (116.39, 39.91)
    settings.GRIDMAP_DEFAULT_ZOOM = 12
    html = admin_client.get(admin_url(GridUnit, "add")).content.decode()
    assert 'options["default_lon"] = 116.39;' in html
    assert 'options["default_lat"] = 39.91;' in html
    assert 'options["default_zoom"] = 12;' in html


def test_map_draws_the_grid_units_around_the_geometry(admin_client, rows):
    far = GridUnit.objects.create(
        level="network", code="620300", name="金昌市", geom=square(102.1, 38.4, 102.3, 38.6)
    )
    html = admin_client.get(admin_url(Camera, "change", rows[Camera].pk)).content.decode()
    assert '"name": "第一网格"' in html
    assert '"name": "建设社区"' in html
    assert far.name not in html


def test_empty_map_draws_the_grid_units_around_the_default_centre(admin_client, grid, settings):
    settings.GRIDMAP_DEFAULT_CENTER = (98.29, 39.80)
    html = admin_client.get(admin_url(Facility, "add")).content.decode()
    assert '"name": "第一网格"' in html


def test_a_unit_name_cannot_end_the_map_script(admin_client, grid):
    grid.name = "</script><script>alert(1)</script>"
    grid.save()
    html = admin_client.get(admin_url(Camera, "add")).content.decode()
    assert "<script>alert(1)" not in html
    assert "\\u003C/script\\u003E" in html


def test_grid_unit_admin_rejects_a_code_outside_its_parent_and_saves_nothing(admin_client, grid):
    response = admin_client.post(
        admin_url(GridUnit, "add"),
        {
            "level": "grid",
            "parent": grid.parent_id,
            "code": "620200002001002",
            "name": "错误网格",
            "geom": widget_value(square(WEST, SOUTH, EAST, NORTH)),
            "staff-TOTAL_FORMS": "0",
            "staff-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["code"]
    assert not GridUnit.objects.filter(code="620200002001002").exists()


def test_grid_unit_version_and_update_time_are_read_only(admin_client, grid):
    form = admin_client.get(admin_url(GridUnit, "change", grid.pk)).context["adminform"].form
    assert "version" not in form.fields and "updated_at" not in form.fields
    html = admin_client.get(admin_url(GridUnit, "change", grid.pk)).content.decode()
    assert "版本" in html and "更新时间" in html


def test_grid_unit_page_lists_its_staff(admin_client, rows):
    html = admin_client.get(admin_url(GridUnit, "change", rows[GridUnit].pk)).content.decode()
    assert 'name="staff-TOTAL_FORMS"' in html
    assert "李明" in html


@pytest.mark.parametrize(
    ("model", "maintained"),
    [
        (Building, {"grid", "anchor"}),
        (Household, {"grid"}),
        (Camera, {"grid"}),
        (Facility, {"grid"}),
        (
            Incident,
            {"grid", "reported_grid", "reported_grid_code", "status", "level", "deadline"},
        ),
    ],
    ids=lambda p: getattr(p, "__name__", ""),
)
def test_fields_kept_by_the_database_are_read_only(admin_client, rows, model, maintained):
    response = admin_client.get(admin_url(model, "change", rows[model].pk))
    assert not maintained & set(response.context["adminform"].form.fields)
    assert maintained <= set(response.context["adminform"].readonly_fields)


def test_camera_added_in_the_admin_is_assigned_to_the_grid_it_stands_in(admin_client, grid):
    response = admin_client.post(
        admin_url(Camera, "add"),
        {
            "code": "CAM-2",
            "location": widget_value(Point(98.287, 39.805, srid=4326)),
            "bearing": "0",
            "fov": "90",
            "range_m": "30",
            "status": "online",
        },
    )
    assert response.status_code == 302
    assert Camera.objects.get(code="CAM-2").grid == grid


def test_building_moved_in_the_admin_takes_its_households_to_the_new_grid(admin_client, rows):
    building, household = rows[Building], rows[Household]
    east = GridUnit.objects.get(code="620200001001002")
    response = admin_client.post(
        admin_url(Building, "change", building.pk),
        {
            "name": building.name,
            "road": building.road,
            "number": building.number,
            "kind": building.kind,
            "floors": "6",
            "units": "2",
            "footprint": widget_value(box(98.295, 39.799, 98.296, 39.800)),
        },
    )
    assert response.status_code == 302
    building.refresh_from_db()
    household.refresh_from_db()
    assert building.anchor.within(building.footprint)
    assert (building.grid, household.grid) == (east, east)


def redraw(admin_client, rows, geom):
    grid = rows[GridUnit]
    return admin_client.post(
        admin_url(GridUnit, "change", grid.pk),
        {
            "level": grid.level,
            "parent": grid.parent_id,
            "code": grid.code,
            "name": grid.name,
            "geom": widget_value(geom),
            "staff-TOTAL_FORMS": "1",
            "staff-INITIAL_FORMS": "1",
            "staff-0-id": rows[StaffMember].pk,
            "staff-0-unit": grid.pk,
            "staff-0-role": rows[StaffMember].role,
            "staff-0-name": rows[StaffMember].name,
        },
    )


def test_grid_redrawn_in_the_admin_hands_what_it_gives_up_to_its_neighbour(admin_client, rows):
    grid, camera = rows[GridUnit], rows[Camera]
    response = redraw(admin_client, rows, square(WEST, SOUTH, 98.284, NORTH))
    assert response.status_code == 302
    camera.refresh_from_db()
    neighbour = GridUnit.objects.get(code="620200001001002")
    assert camera.grid == neighbour
    assert neighbour.geom.extent == pytest.approx((98.284, SOUTH, EAST, NORTH))
    assert UnitEdit.objects.get().user.username == "admin"
    grid.refresh_from_db()
    assert grid.version == 2


def test_admin_redraw_that_breaks_the_tiling_is_refused_on_the_form(admin_client, rows):
    before = rows[GridUnit].geom.wkt
    response = redraw(admin_client, rows, square(WEST - 0.01, SOUTH, 98.285, NORTH))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["geom"]
    assert "超出上级" in errors[0] and "outside the parent" in errors[0]
    assert GridUnit.objects.get(pk=rows[GridUnit].pk).geom.wkt == before
    assert not UnitEdit.objects.exists()


def household_staff(django_user_model, *codenames: str):
    user = django_user_model.objects.create_user("worker", password="x", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="layers", codename__in=codenames)
    )
    return user


def test_household_personal_data_is_hidden_from_who_may_only_view(client, django_user_model, rows):
    client.force_login(household_staff(django_user_model, "view_household"))
    household = rows[Household]
    listing = client.get(admin_url(Household, "changelist")).content.decode()
    page = client.get(admin_url(Household, "change", household.pk))
    assert listing.count("张三") == 0 and "13800000000" not in listing
    assert "张三" not in page.content.decode() and "13800000000" not in page.content.decode()
    assert not set(Household.PRIVATE_FIELDS) & set(page.context["adminform"].form.fields)
    found = client.get(admin_url(Household, "changelist"), {"q": "张三"}).context["cl"]
    assert found.result_count == 0


def grid_staff(django_user_model, rows):
    """A user who may change households, with a post on the rows' grid (grid staff see their
    own grids' households in the admin, and only those)."""
    user = household_staff(django_user_model, "view_household", "change_household")
    StaffMember.objects.create(
        unit=rows[GridUnit], role=StaffMember.Role.GRID_LEADER, name="王芳", user=user
    )
    return user


def test_household_personal_data_is_shown_to_who_may_change_households(
    client, django_user_model, rows
):
    client.force_login(grid_staff(django_user_model, rows))
    listing = client.get(admin_url(Household, "changelist")).content.decode()
    page = client.get(admin_url(Household, "change", rows[Household].pk))
    assert "张三" in listing and "13800000000" in listing
    assert set(Household.PRIVATE_FIELDS) <= set(page.context["adminform"].form.fields)
    found = client.get(admin_url(Household, "changelist"), {"q": "张三"}).context["cl"]
    assert found.result_count == 1


@pytest.mark.parametrize(
    "query",
    [
        {"head_name": "张三"},
        {"head_name__startswith": "张"},
        {"head_phone__contains": "138"},
        {"room": "101"},
    ],
)
def test_a_url_filter_on_a_hidden_field_is_refused(client, django_user_model, rows, query):
    client.force_login(household_staff(django_user_model, "view_household"))
    response = client.get(admin_url(Household, "changelist"), query)
    # The admin answers a disallowed lookup with its "?e=1" error redirect, never the rows.
    assert response.status_code in (302, 400)
    assert "张三" not in response.content.decode()


def test_a_url_filter_on_a_hidden_field_works_for_who_may_see_it(client, django_user_model, rows):
    client.force_login(grid_staff(django_user_model, rows))
    response = client.get(admin_url(Household, "changelist"), {"head_name": "张三"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_a_case_page_shows_its_timeline_read_only(admin_client, rows, admin_user):
    incident = rows[Incident]
    workflow.apply(incident, "verify", admin_user, "现场核实无误")
    response = admin_client.get(admin_url(Incident, "change", incident.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert "现场核实无误" in html
    (inline,) = response.context["inline_admin_formsets"]
    assert inline.formset.model is IncidentTransition
    assert not inline.has_add_permission and not inline.has_change_permission


def test_the_timeline_changelist_and_entry_open_and_cannot_be_changed(admin_client, rows):
    entry = workflow.add_report(rows[Incident], None, "居民再次反映")
    assert admin_client.get(admin_url(IncidentTransition, "changelist")).status_code == 200
    page = admin_client.get(admin_url(IncidentTransition, "change", entry.pk))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert admin_client.get(admin_url(IncidentTransition, "add")).status_code == 403


def test_a_case_added_in_the_admin_starts_its_timeline(admin_client, grid):
    response = admin_client.post(
        admin_url(Incident, "add"),
        {
            "category": "noise",
            "description": "夜间施工噪音",
            "location": widget_value(INSIDE),
            "reported_at_0": "2026-03-02",
            "reported_at_1": "21:00:00",
            "transitions-TOTAL_FORMS": "0",
            "transitions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    incident = Incident.objects.get(description="夜间施工噪音")
    assert incident.grid == grid
    assert [(e.action, e.username) for e in incident.transitions.all()] == [("open", "admin")]


def test_the_deadline_page_shows_the_default_beside_the_setting(admin_client, rows):
    html = admin_client.get(admin_url(CaseDeadline, "changelist")).content.decode()
    assert "默认时限" in html
