"""The dispatcher's desk /map/dispatch/: offline, for dispatchers only, and a dispatcher locating
a report on the map and running its case from 接单受理 to 核查结案 in headless Chromium (Debian's
chromium, driven by Playwright; tests/browser.py).

Screenshots go to tests/artifacts/dispatch-*.png (git-ignored) for a person to look at.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.gis.geos import Point
from django.test import Client
from django.utils import timezone

from gridmap import coords
from layers import workflow
from layers.models import Building, Camera, Household, Incident
from tests.browser import (
    URL_RE,
    MapPage,
    assert_login_comes_first,
    assert_offline,
    embedded_json,
    logged_in_client,
    map_page_fixture,
)
from tests.conftest import box, user_with_role

# --- the page as HTML --------------------------------------------------------------------------


def test_anonymous_user_is_sent_to_the_login_page(db):
    assert_login_comes_first("/map/dispatch/")


def test_user_without_the_incident_permission_is_refused(db):
    assert logged_in_client(None, "nobody").get("/map/dispatch/").status_code == 403


def test_the_view_permission_alone_opens_the_desk_without_the_case_form(db):
    user = user_with_role(None, "reader")
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="layers", codename="view_incident")
    )
    client = Client()
    client.force_login(user)
    response = client.get("/map/dispatch/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="desk-open"' not in html


def test_page_names_no_other_host_and_loads_the_vendored_assets(world):
    html = logged_in_client("dispatcher").get("/map/dispatch/").content.decode()
    assert_offline(html, ("leaflet/leaflet.js", "leaflet/leaflet.css", "jquery/jquery.min.js"))
    assert "/static/layers/dispatch.js" in html
    assert "/static/layers/dispatch.css" in html
    assert "leaflet-geoman" not in html
    assert "L.tileLayer" not in html  # no basemap unless one is configured


def test_the_scripts_name_no_other_host():
    static = Path(settings.BASE_DIR) / "static"
    for name in ("layers/dispatch.js", "layers/dispatch.css", "gridmap/mapkit.js"):
        assert URL_RE.findall((static / name).read_text(encoding="utf-8")) == []


def test_dispatcher_gets_the_case_form_with_every_category(world):
    html = logged_in_client("dispatcher").get("/map/dispatch/").content.decode()
    assert 'id="desk-open"' in html
    for value in ("environment", "noise", "parking", "safety_hazard"):
        assert f'<option value="{value}">' in html
    for crs in ("wgs84", "cgcs2000", "gcj02", "bd09"):
        assert f'<option value="{crs}">' in html


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_scripts_strings_come_from_the_template_as_json(world, language):
    client = logged_in_client("dispatcher")
    html = client.get("/map/dispatch/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    strings = embedded_json(html, "dispatch-i18n")
    assert {"blind_spot", "merge_into", "escalation_node", "confirm", "overdue"} <= set(strings)
    config = embedded_json(html, "dispatch-config")
    # The case actions and what their forms ask for come from the workflow's table.
    assert config["actions"]["extend"]["requires"] == ["hours"]
    assert config["actions"]["cancel"]["needsNote"] is True
    if language == "zh-hans":
        assert strings["blind_spot"] == "盲区"
        assert strings["merge_into"] == "合并到此案件"
        assert config["actions"]["verify"]["label"] == "立案"
        assert "调度台" in html


def test_a_configured_basemap_is_used(world, settings):
    settings.GRIDMAP_TILE_URL = "/tiles/basemap/{z}/{x}/{y}.png"
    html = logged_in_client("dispatcher").get("/map/dispatch/").content.decode()
    assert "L.tileLayer" in html
    assert "/tiles/basemap/{z}/{x}/{y}.png" in html


# --- the page in a browser ---------------------------------------------------------------------

# In G1 of the conftest world: a building at 新华北路47号 with priority households, a camera
# looking east at the point CLICK. In G3: a camera looking away from BLIND, so that spot is a
# blind spot with a camera nearby.
CLICK = (98.0012, 39.0010)
BLIND = (98.0052, 39.0010)
# What a Chinese input method types.
FULL_WIDTH = str.maketrans("0123456789.", "０１２３４５６７８９．")


@pytest.fixture
def desk_world(world):
    building = Building.objects.create(
        name="",
        road="新华北路",
        number="47号",
        floors=6,
        footprint=box(98.0004, 39.0012, 98.0010, 39.0016),
    )
    for i, color in enumerate(["red", "red", "orange", "green", "green"]):
        Household.objects.create(
            building=building,
            room=f"{i + 1:03d}",
            color=color,
            head_name=f"户主{i}",
            head_phone=f"1390000000{i}",
        )
    Camera.objects.create(
        code="CAM-G1",
        name="新华北路口",
        location=Point(98.0004, 39.0010, srid=4326),
        bearing=90,
        fov=60,
        range_m=120,
    )
    Camera.objects.create(
        code="CAM-G3",
        name="五一北路口",
        location=Point(98.0047, 39.0010, srid=4326),
        bearing=270,
        fov=60,
        range_m=80,
    )
    return world


def open_incident(lon: float, lat: float, category: str = "noise") -> Incident:
    """A case opened earlier by another dispatcher."""
    incident = Incident(
        category=category, description="早先的报告", location=Point(lon, lat, srid=4326)
    )
    reporter = user_with_role("dispatcher", f"earlier-{Incident.objects.count()}")
    workflow.open_case(incident, reporter)
    return incident


class Desk(MapPage):
    """The dispatcher's desk in the browser."""

    name = "dispatch"
    viewport = {"width": 1400, "height": 900}
    context_options = {"timezone_id": "Asia/Shanghai"}

    def open(self, path: str = "/map/dispatch/", view: tuple[float, float] | None = None) -> None:
        """Open the desk and give its map a moment to settle; `view`: centre the map there
        (lon, lat) at zoom 17."""
        super().open(path, view)
        self.page.wait_for_timeout(300)

    def located(self, action) -> None:
        """Do `action` and wait until the answer it asked for is shown."""
        self.after("located", action)

    def click_map(self, lon: float, lat: float) -> None:
        self.located(lambda: self.page.mouse.click(*self.pixel(lon, lat)))

    def act(self, action: str, **fields: str | bytes) -> None:
        """Take a case action from its button, filling its form (a photo as bytes), and wait
        until the timeline has one more entry."""
        page = self.page
        before = page.locator("#desk-timeline li").count()
        page.click(f"#desk-actions button[data-action={action}]")
        for name, value in fields.items():
            selector = f"#desk-action [name={name}]"
            if name == "photo":
                page.set_input_files(
                    selector, {"name": "现场.png", "mimeType": "image/png", "buffer": value}
                )
            elif page.locator(selector).evaluate("e => e.tagName") == "SELECT":
                page.select_option(selector, value)
            else:
                page.fill(selector, value)
        page.click("#desk-action button.confirm")
        page.wait_for_function(
            "n => document.querySelectorAll('#desk-timeline li').length > n", arg=before
        )


desk_as = map_page_fixture(Desk)


@pytest.mark.browser
def test_dispatcher_locates_a_click_and_runs_the_case_to_closed(desk_world, desk_as):
    desk = desk_as("dispatcher")
    page = desk.page
    desk.open(view=CLICK)
    desk.click_map(*CLICK)

    answer = page.locator("#desk-answer").inner_text()
    assert "第一网格" in answer
    assert desk_world["g1"].code in answer
    assert "利民社区" in answer and "钢城街道" in answer and "嘉峪关市" in answer
    assert "距网格边界" in answer
    staff = page.locator("#desk-staff")
    assert "张伟" in staff.inner_text() and "李娜" in staff.inner_text()
    assert staff.locator("a[href='tel:13800000001']").count() == 1
    escalation = page.locator("#desk-escalation li > .step").all_inner_texts()
    assert escalation == ["网格", "社区", "街道", "区"]
    cameras = page.locator("#desk-cameras").inner_text()
    assert "CAM-G1" in cameras and "盲区" not in cameras
    assert page.locator(".leaflet-dk-answer-pane path").count() >= 1  # its sector
    summary = page.locator("#desk-summary").inner_text()
    assert "1 个摄像头可见" in summary
    assert "红色 2 户" in summary and "橙色 1 户" in summary
    households = page.locator("#desk-households li").all_inner_texts()
    assert len(households) == 3
    assert all("米" in line for line in households)
    assert not any("户主" in line for line in households)  # not for a dispatcher's eyes
    assert page.locator(".leaflet-dk-households-pane path").count() == 3
    desk.screenshot("answer")

    page.select_option("#desk-open select[name=category]", "noise")
    page.fill("#desk-open textarea[name=description]", "47号楼下烧烤店夜间噪音扰民")
    page.click("#desk-open button[type=submit]")
    page.wait_for_selector("#desk-case h2")
    incident = Incident.objects.get()
    assert incident.status == "received"
    assert incident.grid_id == desk_world["g1"].id
    assert f"#{incident.id}" in page.locator("#desk-case h2").inner_text()

    desk.act("verify", note="现场核实属实")
    desk.act("dispatch", department="城管执法中队", note="请当晚处理")
    desk.act("start")
    desk.act("feedback", note="已劝导停业整改")
    desk.screenshot("case-feedback")
    desk.act("close", note="回访确认")

    incident.refresh_from_db()
    assert incident.status == "closed"
    assert incident.department == "城管执法中队"
    actions = list(incident.transitions.values_list("action", flat=True))
    assert actions == ["open", "verify", "dispatch", "start", "feedback", "close"]
    case = page.locator("#desk-case").inner_text()
    assert "核查结案" in case
    assert page.locator("#desk-timeline li").count() == 6
    assert "城管执法中队" in page.locator("#desk-timeline").inner_text()
    desk.screenshot("case-closed")
    desk.act("rate", rating="5", note="居民满意")
    incident.refresh_from_db()
    assert (incident.status, incident.rating) == ("rated", 5)
    assert "没有可执行的操作" in page.locator("#desk-actions").inner_text()
    desk.assert_clean()


# The smallest PNG: the signature is what the server checks.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


@pytest.mark.browser
def test_a_case_is_extended_with_a_photo_and_escalated_to_the_community(
    desk_world, desk_as, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    incident = open_incident(*CLICK)
    dispatcher = user_with_role("dispatcher", "day-shift")
    workflow.apply(incident, "verify", dispatcher)
    workflow.apply(incident, "dispatch", dispatcher, department="物业")
    incident.refresh_from_db()
    deadline = incident.deadline
    desk = desk_as("dispatcher")
    page = desk.page
    desk.open(f"/map/dispatch/?incident={incident.id}")
    page.wait_for_selector("#desk-actions button[data-action=extend]")

    desk.act("extend", hours="12", note="需协调物业公司", photo=PNG)
    incident.refresh_from_db()
    assert incident.deadline - deadline == dt.timedelta(hours=12)
    assert incident.transitions.get(action="extend").photo
    timeline = page.locator("#desk-timeline")
    assert "延期 12 小时" in timeline.inner_text()
    assert timeline.locator("a", has_text="照片").count() == 1

    desk.act("escalate", reason="涉及多个网格，需社区协调")
    incident.refresh_from_db()
    assert incident.level == "node"
    assert "社区" in page.locator("#desk-case .case-facts .level").inner_text()
    assert "网格 → 社区" in timeline.inner_text()
    desk.screenshot("escalated")
    desk.assert_clean()


@pytest.mark.browser
def test_coordinates_in_gcj02_show_the_conversion_and_a_blind_spot(desk_world, desk_as):
    desk = desk_as("dispatcher")
    page = desk.page
    desk.open(view=BLIND)
    lon, lat = coords.wgs84_to_gcj02(*BLIND)
    page.fill("#desk-coords input[name=lon]", f"{lon:.7f}".translate(FULL_WIDTH))
    page.fill("#desk-coords input[name=lat]", f"{lat:.7f}")
    page.select_option("#desk-coords select[name=crs]", "gcj02")
    desk.located(lambda: page.click("#desk-coords button[type=submit]"))
    conversion = page.locator("#desk-conversion").inner_text()
    assert "GCJ02" in conversion and "GCJ-02 已转换为 WGS84" in conversion
    x, y = (float(v) for v in page.locator("#desk-answer code.point").inner_text().split(","))
    assert abs(x - BLIND[0]) < 1e-5 and abs(y - BLIND[1]) < 1e-5
    assert "第三网格" in page.locator("#desk-answer").inner_text()
    assert "盲区" in page.locator("#desk-summary").inner_text()
    cameras = page.locator("#desk-cameras")
    assert "盲区" in cameras.inner_text()
    assert "CAM-G3" in cameras.inner_text()
    cameras.scroll_into_view_if_needed()
    desk.screenshot("blind-spot")
    desk.assert_clean()


@pytest.mark.browser
def test_an_address_places_the_point_at_the_building(desk_world, desk_as):
    desk = desk_as("dispatcher")
    page = desk.page
    desk.open()
    page.fill("#desk-search input", "新华北路４７号")
    desk.located(lambda: page.press("#desk-search input", "Enter"))
    answer = page.locator("#desk-answer").inner_text()
    assert "新华北路47号" in answer
    assert "第一网格" in answer
    x, y = (float(v) for v in page.locator("#desk-answer code.point").inner_text().split(","))
    assert 98.0004 <= x <= 98.0010 and 39.0012 <= y <= 39.0016
    desk.assert_clean()


@pytest.mark.browser
def test_a_duplicate_is_offered_and_merged_instead_of_a_new_case(desk_world, desk_as):
    earlier = open_incident(*CLICK)
    desk = desk_as("dispatcher")
    page = desk.page
    desk.open(view=CLICK)
    # 20 m west of the earlier report, off its marker.
    desk.click_map(CLICK[0] - 0.00023, CLICK[1])
    desk.located(lambda: page.select_option("#desk-open select[name=category]", "noise"))
    duplicates = page.locator("#desk-duplicates")
    assert f"#{earlier.id}" in duplicates.inner_text()
    page.fill("#desk-open textarea[name=description]", "又有居民来电反映噪音")
    desk.screenshot("duplicate")
    duplicates.locator("button.merge").click()
    page.wait_for_selector("#desk-timeline li.entry-report")
    assert Incident.objects.count() == 1
    report = earlier.transitions.get(action="report")
    assert report.note == "又有居民来电反映噪音"
    desk.assert_clean()


@pytest.mark.browser
def test_an_action_someone_else_made_illegal_shows_the_allowed_actions(desk_world, desk_as):
    incident = open_incident(*CLICK)
    desk = desk_as("dispatcher")
    page = desk.page
    desk.open(f"/map/dispatch/?incident={incident.id}")
    page.wait_for_selector("#desk-actions button[data-action=verify]")
    # Another dispatcher verifies the case while this page still offers 立案.
    workflow.apply(incident, "verify", user_with_role("dispatcher", "someone-else"))
    page.click("#desk-actions button[data-action=verify]")
    page.click("#desk-action button.confirm")
    error = page.wait_for_selector("#desk-case .error-box")
    text = error.inner_text()
    assert "409" in text and "illegal_transition" in text
    assert "派遣" in text  # what may be done now
    assert page.locator("#desk-actions button[data-action=dispatch]").count() == 1
    desk.screenshot("illegal")
    desk.assert_clean(refused=409)


@pytest.mark.browser
def test_the_incidents_layer_filters_overdue_cases(desk_world, desk_as):
    open_incident(*CLICK)
    late = open_incident(98.0015, 39.0005, "parking")
    Incident.objects.filter(pk=late.pk).update(
        status="handling", deadline=timezone.now() - dt.timedelta(hours=3)
    )
    desk = desk_as("dispatcher")
    page = desk.page
    desk.open(view=CLICK)
    assert page.locator(".leaflet-dk-incidents-pane path").count() == 2
    page.click(".desk-tabs [data-tab=incidents]")
    page.wait_for_selector(".incident-list li")
    assert page.locator(".incident-list li").count() == 2
    page.check("#desk-filter input[name=overdue]")
    page.wait_for_function("() => document.querySelectorAll('.incident-list li').length === 1")
    assert f"#{late.id}" in page.locator(".incident-list").inner_text()
    assert "已超期" in page.locator(".incident-list").inner_text()
    desk.screenshot("incidents")
    page.locator(".incident-list li button").click()
    page.wait_for_selector(f"#desk-case h2:has-text('#{late.id}')")
    desk.assert_clean()
