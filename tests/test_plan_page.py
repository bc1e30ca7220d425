"""The planner's map page /map/plan/: offline, the four levels, read-only for viewers, and a
planner editing on the map (split, a refused reshape, a stale version, undo) in headless Chromium
(Debian's chromium, driven by Playwright; tests/browser.py).

Screenshots go to tests/artifacts/plan-*.png (git-ignored) for a person to look at.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import shapely
from django.contrib.gis.geos import Point

from gridmap import editing
from gridmap.geometry import to_shapely
from gridmap.models import GridUnit, StaffMember
from layers.models import Building, Camera, Household
from tests.browser import (
    MapPage,
    assert_login_comes_first,
    assert_offline,
    embedded_json,
    logged_in_client,
    map_page_fixture,
)
from tests.conftest import G1, box, user_with_role

SPLIT_X = 98.0007


@pytest.fixture
def plan_world(world):
    """The conftest world plus a building with households in G1 and a camera in G2."""
    building = Building.objects.create(
        name="1号楼",
        road="五一北路",
        number="1",
        floors=6,
        footprint=box(98.0005, 39.0005, 98.0012, 39.0009),
    )
    for i in range(12):
        Household.objects.create(
            building=building, room=f"{i + 1:03d}", residents=2, color="green" if i else "red"
        )
    Camera.objects.create(
        code="CAM-1", location=Point(98.0031, 39.0003, srid=4326), bearing=90, fov=90, range_m=50
    )
    return world


# --- the page as HTML --------------------------------------------------------------------------


def test_anonymous_user_is_sent_to_the_login_page(db):
    assert_login_comes_first("/map/plan/")


def test_user_without_a_role_may_not_open_the_map(db):
    assert logged_in_client(None, "nobody").get("/map/plan/").status_code == 403


def test_page_names_no_other_host_and_loads_the_vendored_assets(plan_world):
    html = logged_in_client("planner").get("/map/plan/").content.decode()
    assert_offline(
        html,
        (
            "leaflet/leaflet.js",
            "leaflet/leaflet.css",
            "jquery/jquery.min.js",
            "leaflet-geoman/leaflet-geoman.min.js",
            "leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js",
        ),
    )


def test_the_page_reads_buildings_and_households_per_building_from_the_vector_tiles(plan_world):
    html = logged_in_client("viewer").get("/map/plan/").content.decode()
    api = embedded_json(html, "plan-config")["api"]
    assert api["tiles"] == {
        "buildings": "/tiles/buildings/{z}/{x}/{y}.pbf",
        "households": "/tiles/households/{z}/{x}/{y}.pbf",
    }
    assert "buildings" not in api  # no more buildings as GeoJSON by bounding box


def test_planner_gets_the_edit_tools_and_geoman(plan_world):
    html = logged_in_client("planner").get("/map/plan/").content.decode()
    assert 'id="plan-tools"' in html
    assert 'data-tool="split"' in html
    assert "leaflet-geoman.min.js" in html
    assert '"canEdit": true' in html


def test_viewer_gets_a_read_only_page(plan_world):
    html = logged_in_client("viewer").get("/map/plan/").content.decode()
    assert 'id="plan-tools"' not in html
    assert "leaflet-geoman" not in html
    assert '"canEdit": false' in html


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_scripts_strings_come_from_the_template_as_json(plan_world, language):
    client = logged_in_client("planner")
    html = client.get("/map/plan/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    strings = embedded_json(html, "plan-i18n")
    assert {"commit", "cancel", "preview", "tool_split", "flag_over"} <= strings.keys()
    if language == "zh-hans":
        assert strings["commit"] == "确认提交"
        assert "规划地图" in html


def test_no_basemap_unless_one_is_configured(plan_world, settings):
    client = logged_in_client("planner")
    assert "L.tileLayer" not in client.get("/map/plan/").content.decode()
    settings.GRIDMAP_TILE_URL = "/tiles/basemap/{z}/{x}/{y}.png"
    settings.GRIDMAP_TILE_ATTRIBUTION = "测试底图"
    html = client.get("/map/plan/").content.decode()
    assert "L.tileLayer" in html
    assert "/tiles/basemap/{z}/{x}/{y}.png" in html
    assert json.dumps("测试底图") in html  # folium writes it as a JSON string


# --- the page in a browser ---------------------------------------------------------------------


class PlanPage(MapPage):
    """The planner's map in the browser."""

    name = "plan"
    viewport = {"width": 1400, "height": 850}

    def layer_counts(self) -> dict[str, int]:
        return self.page.evaluate(
            """() => {
                const cfg = JSON.parse(document.getElementById("plan-config").textContent);
                const counts = {};
                for (const [key, name] of Object.entries(cfg.groups)) {
                    counts[key] = window[name].getLayers().length;
                }
                return counts;
            }"""
        )

    def draw(self, *points: tuple[float, float], close: bool = False) -> None:
        """Click the points (lon, lat) on the map; a line ends with a second click on its last
        point, a polygon closes with a click on its first."""
        pixels = [self.pixel(lon, lat) for lon, lat in points]
        for x, y in pixels:
            self.page.mouse.click(x, y)
        self.page.mouse.click(*(pixels[0] if close else pixels[-1]))

    def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        """Press the mouse at `start` (lon, lat), move it to `end` in steps and let go."""
        x0, y0 = self.pixel(*start)
        x1, y1 = self.pixel(*end)
        self.page.mouse.move(x0, y0)
        self.page.mouse.down()
        self.page.mouse.move(x1, y1, steps=10)
        self.page.mouse.up()

    def zoom_out(self) -> None:
        """One step out, so that G1 and its neighbours fit on the screen."""
        self.page.click(".leaflet-control-zoom-out")
        self.page.wait_for_load_state("networkidle")
        self.page.wait_for_timeout(400)

    def grid_bounds(self, unit_id: int) -> list[float] | None:
        """[west, south, east, north] of the grid the page draws for a unit, or None."""
        return self.page.evaluate(
            """id => {
                const cfg = JSON.parse(document.getElementById("plan-config").textContent);
                const layer = window[cfg.groups.grid].getLayers()
                    .find(l => l.feature && l.feature.properties.id === id);
                if (!layer) return null;
                const b = layer.getBounds();
                return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
            }""",
            unit_id,
        )


session_as = map_page_fixture(PlanPage)


@pytest.mark.browser
def test_planner_sees_the_four_levels_offline(plan_world, session_as):
    planner = session_as("planner")
    planner.open(f"/map/plan/?unit={plan_world['node'].id}")
    planner.page.wait_for_selector("#plan-summary table")
    counts = planner.layer_counts()
    assert counts["network"] == 1
    assert counts["segment"] == 1
    assert counts["node"] == 1
    assert counts["grid"] == 3
    labels = planner.page.locator(".unit-label").all_inner_texts()
    assert any("第一网格" in text for text in labels)
    panel = planner.page.locator(".plan-panel").inner_text()
    assert "利民社区" in panel
    assert "户数" in panel
    assert planner.page.locator("#plan-tools button[data-tool]").count() == 4
    planner.screenshot("overview")
    planner.assert_clean()


# The building of plan_world: near its south-west corner (below the popup of its households),
# and its anchor (the middle of the box), where the circle of its households is drawn.
BUILDING_CORNER = (98.00055, 39.00055)
BUILDING_ANCHOR = (98.00085, 39.0007)


@pytest.mark.browser
def test_buildings_and_households_are_drawn_from_vector_tiles(plan_world, session_as):
    viewer = session_as("viewer")
    page = viewer.page
    asked: list[str] = []
    page.on("request", lambda r: asked.append(urlsplit(r.url).path))
    viewer.open("/map/plan/", view=BUILDING_ANCHOR)  # zoom 17: households per building
    page.locator(".leaflet-control-layers-overlays label", has_text="住户").locator("input").check()
    page.wait_for_load_state("networkidle")
    page.wait_for_selector(".leaflet-gm-buildings-pane svg path")
    page.wait_for_selector(".leaflet-gm-points-pane svg path")
    assert any(p.startswith("/tiles/buildings/17/") for p in asked)
    assert any(p.startswith("/tiles/households/17/") for p in asked)
    assert not any(p.startswith("/api/layers/buildings") for p in asked)
    viewer.screenshot("tiles")

    # The households' circle: its count on hover, its counts and colours on a click.
    page.mouse.move(*viewer.pixel(*BUILDING_ANCHOR))
    page.wait_for_selector(".leaflet-tooltip:has-text('12 户')")
    page.mouse.click(*viewer.pixel(*BUILDING_ANCHOR))
    popup = page.wait_for_selector(".leaflet-popup-content table.popup").inner_text()
    assert "12" in popup
    assert "24" in popup  # residents
    assert page.locator(".leaflet-popup-content .chip-red").inner_text() == "1"
    # The building around it: its address and grid.
    page.mouse.click(*viewer.pixel(*BUILDING_CORNER))
    building = page.wait_for_selector(".leaflet-popup-content:has-text('五一北路1')")
    assert G1 in building.inner_text()
    viewer.assert_clean()


@pytest.mark.browser
def test_search_finds_a_grid_and_selects_it(plan_world, session_as):
    planner = session_as("planner")
    planner.open("/map/plan/")
    planner.page.fill("#plan-search input", "第二网格")
    planner.page.press("#plan-search input", "Enter")
    planner.page.locator("#plan-search-results button", has_text="第二网格").click()
    planner.page.wait_for_selector("#plan-unit h2:has-text('第二网格')")
    assert plan_world["g2"].code in planner.page.locator("#plan-unit").inner_text()
    planner.assert_clean()


@pytest.mark.browser
def test_viewer_sees_no_edit_toolbar(plan_world, session_as):
    viewer = session_as("viewer")
    viewer.open(f"/map/plan/?unit={plan_world['g1'].id}")
    viewer.page.wait_for_selector("#plan-summary table")
    assert viewer.page.locator("#plan-tools").count() == 0
    assert viewer.page.locator("button.restore").count() == 0
    assert viewer.page.evaluate(
        "() => window[JSON.parse(document.getElementById('plan-config').textContent).map].pm"
    ) in (None, False)
    viewer.screenshot("viewer")
    viewer.assert_clean()


def planner_on(session_as, unit):
    """A planner's browser on the planning map with `unit` selected and its summary shown."""
    planner = session_as("planner")
    planner.open(f"/map/plan/?unit={unit.id}")
    planner.page.wait_for_selector("#plan-summary table")
    return planner, planner.page


@pytest.mark.browser
def test_planner_splits_a_grid_on_the_map_and_commits(plan_world, session_as):
    g1 = plan_world["g1"]
    planner, page = planner_on(session_as, g1)
    # One step out, so that a line from above G1 to below it fits on the screen.
    planner.zoom_out()

    page.click("#plan-tools button[data-tool=split]")
    # West of the building in G1, whose 12 households change grid with it.
    planner.draw((SPLIT_X, 39.0023), (SPLIT_X, 38.9997))

    preview = page.wait_for_selector("#plan-preview")
    text = preview.inner_text()
    assert g1.code in text
    assert "新建" in text  # the new grid
    assert "住户" in text  # households change grid
    assert page.locator("path.leaflet-interactive[stroke-dasharray]").count() >= 1
    assert GridUnit.objects.filter(parent=plan_world["node"]).count() == 3  # nothing written
    planner.screenshot("split-preview")

    page.click("#plan-edit button.commit")
    page.wait_for_selector("#plan-status.ok")
    grids = GridUnit.objects.filter(parent=plan_world["node"], level="grid")
    assert grids.count() == 4
    g1.refresh_from_db()
    assert g1.version == 2
    # G1 keeps the western part; the line was drawn with the mouse, so to within a pixel (< 1 m).
    assert abs(g1.geom.extent[2] - SPLIT_X) < 1e-5

    planner.open(f"/map/plan/?unit={g1.id}")
    page.wait_for_selector("#plan-history li")
    assert planner.layer_counts()["grid"] == 4
    new_code = grids.exclude(pk__in=[u.pk for u in plan_world.values()]).get().code
    page.wait_for_function(
        "code => [...document.querySelectorAll('.unit-label .code')].some(e => e.textContent === code)",
        arg=new_code,
    )
    assert "版本 2" in page.locator("#plan-unit .meta").inner_text()
    planner.screenshot("split-done")

    planner.assert_clean()


@pytest.mark.browser
def test_planner_undoes_an_edit_from_the_history(plan_world, session_as):
    g1 = plan_world["g1"]
    planner_user = user_with_role("planner", "earlier-planner")
    line = shapely.LineString([(SPLIT_X, 39.0023), (SPLIT_X, 38.9997)])
    editing.split(g1.id, 1, line, user=planner_user, note="", preview=False)
    node = plan_world["node"]
    assert GridUnit.objects.filter(parent=node).count() == 4
    planner = session_as("planner")
    planner.open(f"/map/plan/?unit={g1.id}")
    page = planner.page
    page.click("#plan-history li.current button.undo")
    preview = page.wait_for_selector("#plan-preview").inner_text()
    assert "删除" in preview  # the grid the split made goes again
    planner.screenshot("undo-preview")
    page.click("#plan-edit button.commit")
    page.wait_for_selector("#plan-status.ok")
    assert GridUnit.objects.filter(parent=node).count() == 3
    g1.refresh_from_db()
    assert g1.version == 3
    page.wait_for_selector("#plan-unit .meta:has-text('版本 3')")
    planner.assert_clean()


@pytest.mark.browser
def test_a_refused_edit_shows_the_reason_and_marks_where_on_the_map(plan_world, session_as):
    g1 = plan_world["g1"]
    planner, page = planner_on(session_as, g1)
    planner.zoom_out()

    page.click("#plan-tools button[data-tool=reshape]")
    # Drag G1's north-west corner north, out of the community (网节) it must stay in.
    x, y = planner.pixel(98.000, 39.002)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y - 40, steps=5)
    page.mouse.up()
    page.click("#plan-edit button.primary")
    error = page.wait_for_selector(".error-box")
    text = error.inner_text()
    assert "422" in text
    assert "outside_parent" in text
    assert " / " in text  # the service's reason, in Chinese and English
    assert page.locator(".leaflet-gm-where-pane path").count() >= 1
    g1.refresh_from_db()
    assert g1.version == 1
    planner.screenshot("refused")
    planner.assert_clean(refused=422)


@pytest.mark.browser
def test_a_unit_changed_by_someone_else_is_reported_and_can_be_reloaded(plan_world, session_as):
    g1 = plan_world["g1"]
    planner, page = planner_on(session_as, g1)
    # Another planner moves G1's boundary with G2 while this page still shows version 1.
    editing.reshape(
        g1.id,
        1,
        shapely.box(98.000, 39.000, 98.0019, 39.002),
        user=user_with_role("planner", "someone-else"),
        note="",
        preview=False,
    )
    planner.zoom_out()

    page.click("#plan-tools button[data-tool=split]")
    planner.draw((SPLIT_X, 39.0023), (SPLIT_X, 38.9997))
    page.wait_for_selector(".error-box:has-text('409')")
    assert "stale_version" in page.locator(".error-box").inner_text()
    page.click("#plan-edit button.reload")
    page.wait_for_selector("#plan-unit .meta:has-text('版本 2')")
    assert GridUnit.objects.get(pk=g1.pk).version == 2
    planner.assert_clean(refused=409)


# --- reshape, merge and transfer with the mouse -------------------------------------------------

# G1's north-east corner, which it shares with G2, dragged east along the community's northern
# edge: G1 takes the triangle (98.002, 39.000) – (98.0026, 39.002) – (98.002, 39.002) from G2.
SHARED_CORNER = (98.002, 39.002)
RESHAPED_CORNER = (98.0026, 39.002)
# A rectangle across G1's edge with G2; its corners are further from every edge and vertex than
# Geoman's snap distance (20 px at the zoom the tests work at), so they stay where clicked.
TRANSFER_AREA = ((98.0012, 39.0013), (98.0028, 39.0013), (98.0028, 39.0017), (98.0012, 39.0017))
PIXEL_DEG = 1e-5  # what a mouse position is good to at that zoom (≈ 1 m)


def geometry_of(unit: GridUnit):
    unit.refresh_from_db()
    return to_shapely(unit.geom)


def camera_at(lon: float, lat: float) -> Camera:
    return Camera.objects.create(
        code="CAM-2", location=Point(lon, lat, srid=4326), bearing=0, fov=90, range_m=50
    )


def open_for_editing(planner: PlanPage, unit: GridUnit, tool: str) -> None:
    planner.open(f"/map/plan/?unit={unit.id}")
    planner.page.wait_for_selector("#plan-summary table")
    planner.zoom_out()
    planner.page.click(f"#plan-tools button[data-tool={tool}]")


def preview_rows(page, table: str) -> list[str]:
    return page.locator(f"#plan-preview table.{table} tbody tr").all_inner_texts()


def assert_preview_changes(page, *changes: tuple[GridUnit, str]) -> None:
    """The preview, once shown, lists exactly these units, each with its change (修改, 删除)."""
    page.wait_for_selector("#plan-preview")
    units = preview_rows(page, "changes")
    assert len(units) == len(changes)
    for unit, change in changes:
        assert any(unit.code in row and change in row for row in units)


def assert_preview_moves_camera(page, source: GridUnit, receiver: GridUnit) -> None:
    """The reassignment table names the camera that changes grid, the load table both grids."""
    moved = preview_rows(page, "reassignment")
    assert len(moved) == 1
    assert "摄像头" in moved[0]
    assert f"{source.code} → {receiver.code}" in moved[0]
    assert moved[0].split()[-1] == "1"
    load = "\n".join(preview_rows(page, "load"))
    assert source.code in load
    assert receiver.code in load
    assert "12 → 12" in load  # the households of G1 stay where they are
    assert page.locator(".leaflet-gm-preview-pane path").count() >= 1


def preview_screenshot(planner: PlanPage, flow: str) -> None:
    # The mouse off the map, so that a unit's hover tooltip does not cover the preview.
    planner.page.mouse.move(1, 1, steps=5)
    planner.screenshot(f"{flow}-preview")


def assert_reloaded(planner: PlanPage, unit: GridUnit, operation: str, grids: int) -> None:
    """The page opened afresh shows the unit's new version, its history and the new grids."""
    page = planner.page
    planner.open(f"/map/plan/?unit={unit.id}")
    page.wait_for_selector("#plan-unit .meta:has-text('版本 2')")
    page.wait_for_selector(f"#plan-history li.current:has-text('{operation}')")
    assert planner.layer_counts()["grid"] == grids


@pytest.mark.browser
def test_planner_reshapes_a_grid_and_the_neighbour_follows(plan_world, session_as):
    g1, g2 = plan_world["g1"], plan_world["g2"]
    camera = camera_at(98.0022, 39.0015)  # inside the triangle G1 takes
    assert camera.grid_id == g2.id
    old_g1, old_g2 = to_shapely(g1.geom), to_shapely(g2.geom)
    taken = shapely.Polygon([(98.002, 39.000), RESHAPED_CORNER, SHARED_CORNER])
    planner = session_as("planner")
    open_for_editing(planner, g1, "reshape")
    page = planner.page

    # Geoman's vertex marker of the corner, dragged; it snaps onto the community's edge.
    planner.drag(SHARED_CORNER, RESHAPED_CORNER)
    page.click("#plan-edit button.primary")
    assert_preview_changes(page, (g1, "修改"), (g2, "修改"))  # the neighbour follows
    assert_preview_moves_camera(page, g2, g1)
    # Nothing written yet.
    assert {u.version for u in GridUnit.objects.filter(pk__in=[g1.pk, g2.pk])} == {1}
    preview_screenshot(planner, "reshape")

    page.click("#plan-edit button.commit")
    page.wait_for_selector("#plan-status.ok")
    new_g1, new_g2 = geometry_of(g1), geometry_of(g2)
    assert (g1.version, g2.version) == (2, 2)
    assert shapely.hausdorff_distance(new_g1, old_g1.union(taken)) < PIXEL_DEG
    assert shapely.hausdorff_distance(new_g2, old_g2.difference(taken)) < PIXEL_DEG
    # The edge they share moved with the corner: no gap, no overlap between them.
    shared = shapely.line_merge(shapely.intersection(new_g1.boundary, new_g2.boundary))
    new_edge = shapely.LineString([(98.002, 39.000), RESHAPED_CORNER])
    assert shapely.hausdorff_distance(shared, new_edge) < PIXEL_DEG
    assert new_g1.intersection(new_g2).area < 1e-12
    assert new_g1.union(new_g2).symmetric_difference(old_g1.union(old_g2)).area < 1e-12
    camera.refresh_from_db()
    assert camera.grid_id == g1.id

    assert_reloaded(planner, g1, "调整边界", grids=3)
    assert abs(planner.grid_bounds(g1.id)[2] - RESHAPED_CORNER[0]) < PIXEL_DEG
    planner.screenshot("reshape-done")
    planner.assert_clean()


@pytest.mark.browser
def test_planner_merges_a_neighbour_into_a_grid(plan_world, session_as):
    g1, g2, node = plan_world["g1"], plan_world["g2"], plan_world["node"]
    StaffMember.objects.create(unit=g2, role="grid_leader", name="王芳", phone="13800000003")
    camera = Camera.objects.get(code="CAM-1")
    assert camera.grid_id == g2.id
    both = to_shapely(g1.geom).union(to_shapely(g2.geom))
    planner = session_as("planner")
    open_for_editing(planner, g1, "merge")
    page = planner.page

    page.mouse.click(*planner.pixel(98.0022, 39.0018))  # on G2
    assert_preview_changes(page, (g1, "修改"), (g2, "删除"))
    assert_preview_moves_camera(page, g2, g1)
    staff = page.locator("#plan-preview ul.staff-moved").inner_text()
    assert f"1 名人员从 {g2.code} 调到 {g1.code}" in staff
    assert GridUnit.objects.filter(parent=node).count() == 3  # nothing written
    preview_screenshot(planner, "merge")

    page.click("#plan-edit button.commit")
    page.wait_for_selector("#plan-status.ok")
    assert not GridUnit.objects.filter(pk=g2.pk).exists()
    assert GridUnit.objects.filter(parent=node).count() == 2
    merged = geometry_of(g1)
    assert g1.version == 2
    assert g1.code == G1  # the grid merged into keeps its code
    assert merged.symmetric_difference(both).area < 1e-12  # holes A and B stay holes
    assert sorted(g1.staff.values_list("name", flat=True)) == ["张伟", "李娜", "王芳"]
    camera.refresh_from_db()
    assert camera.grid_id == g1.id
    # The page selects the merged grid again.
    page.wait_for_selector("#plan-unit .meta:has-text('版本 2')")

    assert_reloaded(planner, g1, "合并", grids=2)
    assert planner.grid_bounds(g2.id) is None
    assert abs(planner.grid_bounds(g1.id)[2] - 98.004) < 1e-9
    planner.screenshot("merge-done")
    planner.assert_clean()


@pytest.mark.browser
def test_planner_transfers_an_area_from_the_neighbour(plan_world, session_as):
    g1, g2 = plan_world["g1"], plan_world["g2"]
    camera = camera_at(98.0024, 39.0015)  # inside the area drawn
    assert camera.grid_id == g2.id
    old_g1, old_g2 = to_shapely(g1.geom), to_shapely(g2.geom)
    area = shapely.Polygon(TRANSFER_AREA)
    planner = session_as("planner")
    open_for_editing(planner, g1, "transfer")
    page = planner.page

    planner.draw(*TRANSFER_AREA, close=True)
    assert_preview_changes(page, (g1, "修改"), (g2, "修改"))
    assert_preview_moves_camera(page, g2, g1)
    assert GridUnit.objects.get(pk=g2.pk).version == 1  # nothing written
    preview_screenshot(planner, "transfer")

    page.click("#plan-edit button.commit")
    page.wait_for_selector("#plan-status.ok")
    new_g1, new_g2 = geometry_of(g1), geometry_of(g2)
    assert (g1.version, g2.version) == (2, 2)
    moved = area.difference(old_g1)  # the part of the drawn area that was G2's
    assert shapely.hausdorff_distance(new_g1, old_g1.union(moved)) < PIXEL_DEG
    assert shapely.hausdorff_distance(new_g2, old_g2.difference(moved)) < PIXEL_DEG
    assert new_g1.union(new_g2).symmetric_difference(old_g1.union(old_g2)).area < 1e-12
    camera.refresh_from_db()
    assert camera.grid_id == g1.id

    assert_reloaded(planner, g1, "划转区域", grids=3)
    assert abs(planner.grid_bounds(g1.id)[2] - TRANSFER_AREA[1][0]) < PIXEL_DEG
    planner.screenshot("transfer-done")
    planner.assert_clean()
