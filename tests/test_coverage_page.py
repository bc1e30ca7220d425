"""The 15-minute service circles page /map/coverage/: offline, for those who may view the grid, and
a viewer looking at the circles, the coverage of each grid, the households left out and the
proposed sites of a small street world in headless Chromium (tests/browser.py).

Screenshots go to tests/artifacts/coverage-*.png (git-ignored) for a person to look at.
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.gis.geos import LineString, Point
from django.core.management import call_command

from layers.models import Building, Facility, Household, Road
from tests.browser import (
    URL_RE,
    MapPage,
    assert_login_comes_first,
    assert_offline,
    embedded_json,
    logged_in_client,
    map_page_fixture,
)
from tests.conftest import box

PATH = "/map/coverage/"

# --- the page as HTML --------------------------------------------------------------------------


def test_anonymous_user_is_sent_to_the_login_page(db):
    assert_login_comes_first(PATH)


def test_user_without_the_grid_view_permission_is_refused(db):
    assert logged_in_client(None, "nobody").get(PATH).status_code == 403


def test_page_names_no_other_host_and_loads_the_vendored_assets(world):
    html = logged_in_client("viewer").get(PATH).content.decode()
    assert_offline(html, ("leaflet/leaflet.js", "leaflet/leaflet.css", "jquery/jquery.min.js"))
    assert "/static/gridmap/mapkit.js" in html
    assert "/static/layers/coverage.js" in html
    assert "/static/layers/coverage.css" in html
    assert "leaflet-geoman" not in html
    assert "L.tileLayer" not in html  # no basemap unless one is configured


def test_the_scripts_name_no_other_host():
    static = Path(settings.BASE_DIR) / "static"
    for name in ("layers/coverage.js", "layers/coverage.css"):
        assert URL_RE.findall((static / name).read_text(encoding="utf-8")) == []


def test_the_page_offers_the_ten_kinds_and_three_walking_times_in_chinese(world):
    html = logged_in_client("viewer").get(PATH, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "15分钟生活圈" in html
    for value in Facility.Kind.values:
        assert f'<option value="{value}">' in html
    assert '<option value="medical">医疗卫生</option>' in html
    for minutes in (5, 10, 15):
        assert f'name="minutes" value="{minutes}"' in html
    config = embedded_json(html, "coverage-config")
    assert [value for value, _ in config["kinds"]] == Facility.Kind.values
    assert config["thresholds"] == [5, 10, 15]
    assert config["api"]["unitCoverage"] == "/api/coverage/units/{id}/"
    strings = embedded_json(html, "coverage-i18n")
    assert strings["band_far"] == "超过 15 分钟"
    assert strings["gain"] == "新覆盖 {residents} 人（{households} 户）"


def test_the_page_asks_the_apis_for_facilities_and_walking_times_by_box(world):
    html = logged_in_client("viewer").get(PATH).content.decode()
    config = embedded_json(html, "coverage-config")
    assert config["api"]["facilities"] == "/api/layers/facilities/"
    assert config["api"]["buildings"] == "/api/coverage/buildings/"
    assert "facilities" not in config  # no longer embedded: a city has too many


def test_a_configured_basemap_is_used(world, settings):
    settings.GRIDMAP_TILE_URL = "/tiles/basemap/{z}/{x}/{y}.png"
    html = logged_in_client("viewer").get(PATH).content.decode()
    assert "/tiles/basemap/{z}/{x}/{y}.png" in html


# --- the page in a browser ---------------------------------------------------------------------

# The conftest world (grids G1, G2, G3 side by side, 0.002° ≈ 173 m wide each) with a street
# along 39.001 and three crossing it. At 0.5 m/s the walking times 5, 10 and 15 minutes reach
# 150, 300 and 450 m. One 卫生站 in the west of G1: G1's homes are within 5 minutes, G2's within
# 10; in G3 two households are within 15 and four beyond (~464 m): a third covered.
SPEED_MPS = 0.5
CENTRE = (98.003, 39.001)
FACILITY = (98.0008, 39.0011)
HOMES = {
    "g1-near": ((98.0012, 39.0013), 2, 3),  # (lon, lat), households, residents each
    "g1-south": ((98.0015, 39.0006), 1, 2),
    "g2": ((98.0032, 39.0016), 3, 2),
    "g3-within": ((98.0045, 39.0015), 2, 3),
    "g3-beyond": ((98.0054, 39.0001), 4, 3),
}


def streets() -> None:
    """The street along 39.001 and the three across it, one road between two crossings."""
    lines = [
        [(98.000, 39.001), (98.001, 39.001), (98.003, 39.001), (98.005, 39.001), (98.006, 39.001)],
        *([(x, 39.000), (x, 39.001), (x, 39.002)] for x in (98.001, 98.003, 98.005)),
    ]
    for line in lines:
        for a, b in itertools.pairwise(line):
            Road.objects.create(name="街", geom=LineString(a, b, srid=4326))


@pytest.fixture
def circles_world(world, settings):
    settings.GRIDMAP_WALK_SPEED_MPS = SPEED_MPS
    streets()
    Facility.objects.create(kind="medical", name="利民卫生站", location=Point(*FACILITY))
    buildings = {}
    for i, (name, ((lon, lat), households, residents)) in enumerate(HOMES.items()):
        half = 0.00004
        buildings[name] = building = Building.objects.create(
            road="建设路",
            number=f"{i + 1}号",
            footprint=box(lon - half, lat - half, lon + half, lat + half),
        )
        for room in range(households):
            Household.objects.create(building=building, room=f"{room + 1:03d}", residents=residents)
    call_command("build_service_circles", stdout=io.StringIO())
    return {**world, "buildings": buildings}


class CoveragePage(MapPage):
    """The service-circle page in the browser."""

    name = "coverage"
    viewport = {"width": 1400, "height": 900}

    def loaded(self, action) -> None:
        """Do `action` and wait until the page has loaded what it asked for."""
        self.after("coverageLoaded", action)

    def open_at(self, lon: float, lat: float) -> None:
        """Open the page and show (lon, lat) at zoom 17 with everything loaded."""
        super().open(PATH)
        self.loaded(
            lambda: self.page.evaluate(
                """([lon, lat]) => {
                    const cfg = JSON.parse(document.getElementById("coverage-config").textContent);
                    window[cfg.map].setView([lat, lon], 17, { animate: false });
                }""",
                [lon, lat],
            )
        )

    def count(self, pane: str, selector: str = "path") -> int:
        return self.page.locator(f".leaflet-cv-{pane}-pane {selector}").count()


coverage_as = map_page_fixture(CoveragePage)


@pytest.mark.browser
def test_viewer_sees_circles_grid_coverage_households_left_out_and_sites(
    circles_world, coverage_as
):
    view = coverage_as("viewer")
    page = view.page
    view.open_at(*CENTRE)
    view.loaded(lambda: page.select_option("#cv-choice select[name=kind]", "medical"))

    # The 15-minute circle of the one facility, along the streets.
    assert view.count("iso") >= 1
    assert view.count("facilities", ".cv-facility") == 1
    # The choropleth: one shape per grid, G1 all covered (green), G3 a third (orange).
    assert view.count("grid") == 3
    fills = set(
        page.locator(".leaflet-cv-grid-pane path").evaluate_all(
            "paths => paths.map(p => p.getAttribute('fill'))"
        )
    )
    assert {"#1a9850", "#fc8d59"} <= fills
    labels = page.locator(".cv-grid-label").all_inner_texts()
    assert "第一网格 100%" in labels and "第三网格 33%" in labels
    # Every building by its walking time; the one beyond 15 minutes ringed.
    assert view.count("households") == len(HOMES)
    band_colors = page.locator(".leaflet-cv-households-pane path").evaluate_all(
        "paths => paths.map(p => p.getAttribute('fill')).sort()"
    )
    assert sorted(set(band_colors)) == sorted({"#0b3d91", "#3d85c6", "#9fc5e8", "#d32f2f"})
    assert view.count("holes") == 1
    summary = page.locator("#cv-view").inner_text()
    assert "15 分钟内未覆盖：4 户 12 人" in summary
    assert "第三网格" in summary
    assert "医疗卫生设施 1 处" in summary

    # G3's coverage of every kind.
    page.mouse.click(*view.pixel(98.0058, 39.0018))
    page.wait_for_selector("#cv-unit ul.cv-chart")
    bars = page.locator("#cv-unit ul.cv-chart button.bar")
    assert bars.count() == len(Facility.Kind.values)
    medical = page.locator("#cv-unit button.bar[data-kind=medical]")
    assert "chosen" in medical.get_attribute("class")
    assert medical.locator(".value").inner_text() == "33%"
    assert page.locator("#cv-unit button.bar[data-kind=elderly] .value").inner_text() == "0%"
    unit = page.locator("#cv-unit").inner_text()
    assert "第三网格" in unit and "医疗卫生" in unit and "养老服务" in unit
    assert view.count("selected") == 1

    # Where a second 卫生站 would reach G3's uncovered homes.
    page.click("#cv-siting button[type=submit]")
    page.wait_for_selector("#cv-sites ol.cv-site-list li")
    sites = page.locator("#cv-sites").inner_text()
    assert "新覆盖 12 人（4 户）" in sites
    assert view.count("sites", ".cv-site") >= 1
    view.screenshot("medical-15")

    # At 5 minutes, G2's and G3's homes are all beyond reach.
    view.loaded(lambda: page.check("#cv-choice input[name=minutes][value='5']"))
    assert view.count("holes") == 3
    assert "5 分钟内未覆盖：9 户" in page.locator("#cv-view").inner_text()
    assert view.count("sites", ".cv-site") == 0  # proposals were for the other walking time
    view.screenshot("medical-5")
    view.assert_clean()


@pytest.mark.browser
def test_a_kind_without_facilities_leaves_every_home_out(circles_world, coverage_as):
    view = coverage_as("viewer")
    page = view.page
    view.open_at(*CENTRE)
    view.loaded(lambda: page.select_option("#cv-choice select[name=kind]", "elderly"))
    assert view.count("iso") == 0
    assert view.count("facilities", ".cv-facility") == 0
    assert view.count("holes") == len(HOMES)
    fills = set(
        page.locator(".leaflet-cv-grid-pane path").evaluate_all(
            "paths => paths.map(p => p.getAttribute('fill'))"
        )
    )
    assert fills == {"#d73027"}
    view.screenshot("elderly")
    view.assert_clean()
