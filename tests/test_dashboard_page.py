"""The workload dashboard /map/dashboard/: offline, for those who may view the grid, and in
headless Chromium (tests/browser.py) a viewer looking at the choropleth, the charts and the
staffing table of the hand-made node of tests/test_workload.py, and a planner asking for the
rebalance proposal, seeing its moves on the map and applying them.

Screenshots go to tests/artifacts/dashboard-*.png (git-ignored) for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from gridmap.models import GridUnit
from tests.browser import (
    URL_RE,
    MapPage,
    assert_login_comes_first,
    assert_offline,
    embedded_json,
    logged_in_client,
    map_page_fixture,
)
from tests.conftest import G1, G2, G3
from tests.test_workload import EDGE_BUILDINGS, INNER_BUILDINGS, TARGET, building

PATH = "/map/dashboard/"
FLAG_COLOR = {"under": "#74add1", "ok": "#66bd63", "over": "#f46d43"}


@pytest.fixture
def unbalanced(world) -> dict:
    """The node of tests/test_workload.py: G1 28 households, G2 14, G3 20 against 20 a grid."""
    node = world["node"]
    node.target_households = TARGET
    node.save()
    for i, (x, y) in enumerate(EDGE_BUILDINGS):
        building(x, y, 2, name=f"边{i + 1}号楼")
    for x, y in INNER_BUILDINGS:
        building(x, y, 5)
    building(98.0023, 39.0017, 7)
    building(98.0036, 39.0004, 7)
    building(98.0050, 39.0010, 20)
    return world


def page_of(world, key: str = "node") -> str:
    return f"{PATH}?unit={world[key].id}"


# --- the page as HTML --------------------------------------------------------------------------


def test_anonymous_user_is_sent_to_the_login_page(db):
    assert_login_comes_first(PATH)


def test_user_without_the_grid_view_permission_is_refused(world):
    assert logged_in_client(None, "nobody").get(page_of(world)).status_code == 403


def test_page_names_no_other_host_and_loads_the_vendored_assets(world):
    html = logged_in_client("viewer").get(page_of(world)).content.decode()
    assert_offline(html, ("leaflet/leaflet.js", "leaflet/leaflet.css", "jquery/jquery.min.js"))
    for asset in ("gridmap/mapkit.js", "layers/dashboard.js", "layers/dashboard.css"):
        assert f"/static/{asset}" in html
    assert "L.tileLayer" not in html  # no basemap unless one is configured


def test_the_scripts_name_no_other_host():
    static = Path(settings.BASE_DIR) / "static"
    for name in ("layers/dashboard.js", "layers/dashboard.css"):
        assert URL_RE.findall((static / name).read_text(encoding="utf-8")) == []


def test_the_page_is_in_chinese_and_configured_for_its_unit(world):
    html = logged_in_client("viewer").get(page_of(world), HTTP_ACCEPT_LANGUAGE="zh-hans")
    text = html.content.decode()
    assert "工作量看板" in text and "利民社区" in text and "各网格户数与目标" in text
    config = embedded_json(text, "dashboard-config")
    assert config["unit"]["id"] == world["node"].id
    assert config["unit"]["level"] == "node"
    assert config["api"]["grids"] == "/api/workload/grids/"
    assert config["api"]["rebalance"] == "/api/workload/rebalance/"
    assert config["tolerance"] == 0.15
    assert config["canPlan"] is False
    strings = embedded_json(text, "dashboard-i18n")
    assert strings["flag_over"] == "超出目标"


def test_only_planners_get_the_rebalance_button_and_only_on_a_node(world):
    viewer = logged_in_client("viewer").get(page_of(world)).content.decode()
    assert 'id="db-rebalance"' not in viewer
    planner = logged_in_client("planner")
    assert 'id="db-rebalance"' in planner.get(page_of(world)).content.decode()
    assert 'id="db-rebalance"' not in planner.get(page_of(world, "segment")).content.decode()


def test_a_grid_opens_its_node_and_other_units_are_not_found(world):
    client = logged_in_client("viewer")
    html = client.get(page_of(world, "g2")).content.decode()
    assert embedded_json(html, "dashboard-config")["unit"]["id"] == world["node"].id
    assert client.get(page_of(world, "network")).status_code == 404
    assert client.get(f"{PATH}?unit=abc").status_code == 404
    # Without a unit, the first node.
    html = client.get(PATH).content.decode()
    assert embedded_json(html, "dashboard-config")["unit"]["id"] == world["node"].id


# --- the page in a browser ---------------------------------------------------------------------


class DashboardPage(MapPage):
    """The workload dashboard in the browser."""

    name = "dashboard"
    viewport = {"width": 1500, "height": 950}

    def fills(self) -> list[str]:
        return self.page.locator(".leaflet-db-load-pane path").evaluate_all(
            "paths => paths.map(p => p.getAttribute('fill'))"
        )


dashboard_as = map_page_fixture(DashboardPage)


@pytest.mark.browser
def test_viewer_sees_the_choropleth_charts_and_staffing_of_a_node(unbalanced, dashboard_as):
    view = dashboard_as("viewer")
    page = view.page
    view.open(page_of(unbalanced))
    # One shape a grid, coloured by its load: G1 over, G2 under, G3 balanced.
    assert sorted(view.fills()) == sorted(FLAG_COLOR.values())
    labels = page.locator(".db-label").all_inner_texts()
    assert "第一网格 140%" in labels and "第二网格 70%" in labels
    # Key figures.
    kpis = page.locator("#db-kpis").inner_text()
    assert "62" in kpis and "超出 1 · 低于 1" in kpis
    # The charts: one bar a grid in each.
    for chart in ("households", "visits", "incidents"):
        assert page.locator(f"ul.db-chart.{chart} button.bar").count() == 3
    first = page.locator("ul.db-chart.households button.bar").first
    assert first.locator(".value").inner_text() == "28 / 20"
    assert "flag-over" in first.locator(".fill").get_attribute("class")
    assert page.locator("ul.db-chart.visits .part").count() == 15  # 3 grids × 5 colours
    # The staffing table of the node: standard 11, two posts.
    row = page.locator("table.staffing tbody tr")
    assert row.count() == 1
    cells = row.locator("td").all_inner_texts()
    assert cells[2:5] == ["11", "2", "-9"]
    assert page.locator("#db-rebalance").count() == 0
    # A bar shows its grid on the map.
    page.locator("ul.db-chart.households button.bar").nth(1).click()
    assert "chosen" in page.locator("ul.db-chart.incidents button.bar").nth(1).get_attribute(
        "class"
    )
    view.screenshot("node")
    view.assert_clean()


@pytest.mark.browser
def test_a_segment_shows_its_nodes(unbalanced, dashboard_as):
    view = dashboard_as("viewer")
    view.open(page_of(unbalanced, "segment"))
    assert view.fills() == [FLAG_COLOR["ok"]]  # the node: 62 households against 60
    assert view.page.locator("ul.db-chart.households button.bar").count() == 1
    assert view.page.locator("table.staffing tbody a").inner_text() == "利民社区"
    view.screenshot("segment")
    view.assert_clean()


@pytest.mark.browser
def test_planner_sees_the_rebalance_proposal_on_the_map_and_applies_it(unbalanced, dashboard_as):
    view = dashboard_as("planner")
    page = view.page
    view.open(page_of(unbalanced))
    view.after("proposal", lambda: page.click("#db-rebalance"))
    moves = page.locator("ol.db-moves li")
    assert moves.count() == 3
    assert "第一网格 → 第二网格" in moves.first.inner_text()
    assert "2 户" in moves.first.inner_text()
    link = moves.first.locator("a.plan-link")
    assert link.get_attribute("href") == f"/map/plan/?unit={unbalanced['g1'].id}"
    # On the map: the areas handed over, the buildings, an arrow and a number each.
    assert page.locator(".leaflet-db-area-pane path").count() == 3
    assert page.locator(".leaflet-db-buildings-pane path").count() == 3
    assert page.locator(".db-step").count() == 3
    after = page.locator("table.before-after tbody tr").all_inner_texts()
    assert any("第一网格" in r and "28" in r and "22" in r for r in after)
    view.screenshot("proposal")

    page.click(".db-apply button.apply")
    view.after("dashboardLoaded", lambda: page.click(".db-apply button.confirm"))
    assert "已应用 3 步调整" in page.locator("#db-status").inner_text()
    assert view.fills() == [FLAG_COLOR["ok"]] * 3
    assert page.locator(".leaflet-db-area-pane path").count() == 0
    counts = {g.code: g.households.count() for g in GridUnit.objects.filter(level="grid")}
    assert counts == {G1: 22, G2: 20, G3: 20}
    view.screenshot("applied")
    view.assert_clean()
