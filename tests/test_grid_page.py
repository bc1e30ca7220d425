"""The grid worker's page /map/grid/: who opens which grid, offline, and a grid worker on a phone
who opens their grid, finds the overdue household first, records a visit and sees it leave the
overdue list, in headless Chromium on a phone-sized viewport (tests/browser.py).

Screenshots go to tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.gis.geos import Point
from django.test import Client
from django.utils import timezone

from gridmap.models import StaffMember
from layers.models import Building, Household, Visit
from tests.browser import (
    ARTIFACTS,
    URL_RE,
    MapPage,
    assert_login_comes_first,
    assert_offline,
    embedded_json,
    logged_in_client,
    map_page_fixture,
)
from tests.conftest import box, user_with_role

PATH = "/map/grid/"
NOTE = "老人身体状况良好，药已送到"
# The smallest PNG: the signature is what the server checks.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


# In G1 of the conftest world: 新华北路47号 with a red household last visited three days ago
# (overdue two days), an orange one visited today and a yellow one never visited; 新华北路49号
# with a red one never visited (due today) and a green one; a blue household with a point of its
# own, visited today. In G2: a red household the grid worker of G1 must not see.
OWN_POINT = (98.0016, 39.0016)


@pytest.fixture
def homes(world) -> dict[str, Household]:
    no47 = Building.objects.create(
        road="新华北路", number="47号", floors=6, footprint=box(98.0004, 39.0012, 98.0010, 39.0016)
    )
    no49 = Building.objects.create(
        road="新华北路", number="49号", floors=6, footprint=box(98.0012, 39.0004, 98.0018, 39.0008)
    )
    g2 = Building.objects.create(
        road="五一北路", number="12号", footprint=box(98.0031, 39.0002, 98.0033, 39.0004)
    )

    def home(building: Building, color: str, room: str, name: str, **fields) -> Household:
        return Household.objects.create(
            building=building,
            color=color,
            unit_no=2,
            floor=int(room[0]),
            room=room,
            head_name=name,
            head_phone="13900000000",
            **fields,
        )

    now = timezone.now()
    homes = {
        "overdue": home(no47, "red", "301", "王秀兰"),
        "orange": home(no47, "orange", "402", "赵建国"),
        "yellow": home(no47, "yellow", "501", "孙丽"),
        "red": home(no49, "red", "101", "周桂英"),
        "green": home(no49, "green", "202", "吴敏"),
        "blue": home(no49, "blue", "303", "郑强", location=Point(*OWN_POINT, srid=4326)),
        "elsewhere": home(g2, "red", "101", "钱多"),
    }
    Visit.objects.create(household=homes["overdue"], visited_at=now - dt.timedelta(days=3))
    Visit.objects.create(household=homes["orange"], visited_at=now)
    Visit.objects.create(household=homes["blue"], visited_at=now)
    return homes


def worker_of(unit, username: str, role: str = "full_time_worker") -> User:
    """A user with the grid_worker role holding a staff post at `unit`."""
    user = user_with_role("grid_worker", username)
    StaffMember.objects.create(unit=unit, role=role, name=username, user=user)
    return user


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def config_of(response) -> dict:
    assert response.status_code == 200
    return embedded_json(response.content.decode(), "grid-config")


# --- the page as HTML --------------------------------------------------------------------------


def test_anonymous_user_is_sent_to_the_login_page(db):
    assert_login_comes_first(PATH)


@pytest.mark.parametrize("role", [None, "viewer"])
def test_a_user_who_may_not_see_households_is_refused(world, role):
    assert logged_in_client(role, "no-households").get(PATH).status_code == 403


def test_a_grid_worker_without_a_staff_post_is_refused(world):
    assert logged_in_client("grid_worker", "no-post").get(PATH).status_code == 403


def test_a_grid_worker_sees_their_own_grid_and_may_record_visits(homes, world):
    response = client_of(worker_of(world["g1"], "g1-worker")).get(PATH)
    config = config_of(response)
    html = response.content.decode()
    assert config["grid"]["id"] == world["g1"].id
    assert config["grid"]["code"] == world["g1"].code
    assert config["canAct"] is True
    assert config["api"]["due"] == "/api/visits/due/"
    assert config["api"]["visits"] == "/api/households/{id}/visits/"
    assert config["api"]["workload"] == "/api/visits/workload/"
    # The households of G1 have a place on the map; G2's are not even in the page.
    g1 = {str(h.pk) for key, h in homes.items() if key != "elsewhere"}
    assert set(config["positions"]) == g1
    assert "<h1>第一网格</h1>" in html
    assert 'id="gp-switch"' not in html  # one grid: nothing to switch
    assert 'accept="image/*" capture="environment"' in html


def test_a_household_is_drawn_at_its_own_point_else_at_its_building(homes, world):
    config = config_of(client_of(worker_of(world["g1"], "g1-worker")).get(PATH))
    assert config["positions"][str(homes["blue"].pk)] == list(OWN_POINT)
    anchor = homes["overdue"].building.anchor
    lon, lat = config["positions"][str(homes["overdue"].pk)]
    assert (round(anchor.x, 7), round(anchor.y, 7)) == (lon, lat)
    assert 98.0004 < lon < 98.0010 and 39.0012 < lat < 39.0016


def test_a_grid_worker_may_not_open_another_grid(world):
    client = client_of(worker_of(world["g1"], "g1-worker"))
    assert client.get(f"{PATH}?grid={world['g2'].id}").status_code == 403


def test_a_community_lead_switches_between_the_grids_of_their_node(world):
    lead = worker_of(world["node"], "node-lead", role="community_lead")
    client = client_of(lead)
    response = client.get(PATH)
    assert config_of(response)["grid"]["id"] == world["g1"].id  # lowest code first
    html = response.content.decode()
    assert 'id="gp-switch"' in html
    assert '<optgroup label="利民社区">' in html
    for key in ("g1", "g2", "g3"):
        assert f'<option value="{world[key].id}"' in html
    config = config_of(client.get(f"{PATH}?grid={world['g2'].id}"))
    assert (config["grid"]["id"], config["canAct"]) == (world["g2"].id, True)


def test_a_planner_picks_any_grid_and_reads_without_acting(homes, world):
    client = logged_in_client("planner")
    response = client.get(PATH)
    config = config_of(response)
    assert config["grid"] is None  # nothing chosen yet: the switcher asks
    assert 'id="gp-switch"' in response.content.decode()
    response = client.get(f"{PATH}?grid={world['g2'].id}")
    config = config_of(response)
    html = response.content.decode()
    assert config["grid"]["id"] == world["g2"].id
    assert config["canAct"] is False
    assert set(config["positions"]) == {str(homes["elsewhere"].pk)}
    assert "只读" in html
    assert 'id="gp-visit"' not in html


@pytest.mark.parametrize("grid", ["abc", "999999", "node"])
def test_what_is_not_a_grid_is_not_found(world, grid):
    value = world["node"].id if grid == "node" else grid
    assert logged_in_client("planner").get(f"{PATH}?grid={value}").status_code == 404


def test_page_names_no_other_host_and_loads_the_vendored_assets(world):
    html = client_of(worker_of(world["g1"], "g1-worker")).get(PATH).content.decode()
    assert_offline(html, ("leaflet/leaflet.js", "leaflet/leaflet.css", "jquery/jquery.min.js"))
    assert "/static/gridmap/mapkit.js" in html
    assert "/static/layers/grid.js" in html
    assert "/static/layers/grid.css" in html
    assert "L.tileLayer" not in html  # no basemap unless one is configured


def test_the_scripts_name_no_other_host():
    static = Path(settings.BASE_DIR) / "static"
    for name in ("layers/grid.js", "layers/grid.css"):
        assert URL_RE.findall((static / name).read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_scripts_strings_come_from_the_template_as_json(world, language):
    client = client_of(worker_of(world["g1"], "g1-worker"))
    html = client.get(PATH, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    strings = embedded_json(html, "grid-i18n")
    assert {"overdue_days", "due_today", "visit", "visited", "empty_overdue"} <= set(strings)
    config = embedded_json(html, "grid-config")
    assert [value for value, _ in config["colors"]] == Household.Color.values
    assert config["statuses"] == ["overdue", "due_today", "due", "fine"]
    if language == "zh-hans":
        assert strings["overdue_days"] == "逾期 {n} 天"
        assert strings["visit"] == "走访"
        assert "网格走访" in html


# --- the page in a browser ---------------------------------------------------------------------


class GridPage(MapPage):
    """The grid page in a phone's browser."""

    name = "grid"
    viewport = {"width": 390, "height": 844}
    context_options = {
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
        "timezone_id": "Asia/Shanghai",
    }

    def rows(self):
        return self.page.locator("#gp-list li.gp-row")

    def row(self, household: Household):
        return self.page.locator(f'#gp-list li.gp-row[data-household="{household.pk}"]')

    def marker(self, household: Household):
        return self.page.locator(f'.gp-hh[data-household="{household.pk}"]')

    def count(self, name: str) -> str:
        return self.page.locator(f"#gp-counts [data-count={name}]").inner_text()

    def show(self, which: str) -> None:
        self.page.locator(f"#gp-filters button[data-filter={which}]").tap()

    def visit(
        self, household: Household, note: str, photo: bytes | None = None, shot: str = ""
    ) -> None:
        """Tap the household's Visit button, fill the form (`shot`: screenshot it under that
        name) and submit; wait for the answer."""
        page = self.page
        self.row(household).locator("button.gp-visit-button").tap()
        page.wait_for_selector("#gp-visit[open]")
        page.fill("#gp-visit textarea[name=note]", note)
        if photo:
            page.set_input_files(
                "#gp-visit input[name=photo]",
                {"name": "走访.png", "mimeType": "image/png", "buffer": photo},
            )
        if shot:
            page.screenshot(path=str(ARTIFACTS / shot))
        self.after("gridVisited", lambda: page.locator("#gp-visit button[type=submit]").tap())

    def centred_on(self, household: Household) -> bool:
        """Whether the household's marker is in the middle of the map (within 3 px)."""
        return self.page.evaluate(
            """id => {
                const dot = document.querySelector(`.gp-hh[data-household="${id}"]`);
                const map = document.querySelector(".gp-map .folium-map");
                if (!dot) return false;
                const a = dot.getBoundingClientRect(), b = map.getBoundingClientRect();
                return Math.abs(a.left + a.width / 2 - (b.left + b.width / 2)) < 3 &&
                       Math.abs(a.top + a.height / 2 - (b.top + b.height / 2)) < 3;
            }""",
            household.pk,
        )


grid_as = map_page_fixture(GridPage)


def open_as_worker(grid_as, world) -> GridPage:
    """The page of a grid worker of G1 (the role and a staff post at G1), opened."""
    view = grid_as("grid_worker")
    user = User.objects.get(username="grid_worker-browser")
    StaffMember.objects.filter(unit=world["g1"], role="full_time_worker").update(user=user)
    view.open(PATH)
    return view


@pytest.mark.browser
def test_a_grid_worker_on_a_phone_visits_the_overdue_household_first(homes, world, grid_as):
    view = open_as_worker(grid_as, world)
    page = view.page
    overdue = homes["overdue"]

    # The overdue household heads the list; G2's is nowhere.
    assert view.rows().count() == 6
    first = view.rows().first
    assert first.get_attribute("data-household") == str(overdue.pk)
    text = first.inner_text()
    assert "新华北路47号 2单元 3层 301室" in text and "王秀兰" in text
    assert "逾期 2 天" in text
    assert view.row(homes["red"]).locator(".gp-state").inner_text() == "今日到期"
    assert view.row(homes["blue"]).locator(".gp-state").inner_text() == "已走访"
    assert view.row(homes["elsewhere"]).count() == 0
    assert (view.count("overdue"), view.count("due_today")) in {("1", "1"), ("1", "2"), ("1", "3")}
    assert view.count("visits_in_month") in {"2", "3"}  # the visit 3 days ago may be last month
    # On the map: one dot a household by its colour, the overdue one ringed.
    assert page.locator(".gp-hh").count() == 6
    assert page.locator(".gp-hh.overdue").count() == 1
    assert "gp-red" in view.marker(overdue).get_attribute("class").split()
    assert page.locator(".leaflet-gp-buildings-pane path").count() >= 2
    assert page.locator(".leaflet-gp-grid-pane path").count() == 1
    page.screenshot(path=str(ARTIFACTS / "grid_page_phone.png"))

    # A tap on a dot finds its row; a tap on a row takes the map to its dot.
    view.marker(homes["blue"]).tap()
    page.wait_for_selector(f'#gp-list li.gp-row.selected[data-household="{homes["blue"].pk}"]')
    view.row(overdue).locator(".gp-addr").tap()
    page.wait_for_function(
        """id => document.querySelector(`.gp-hh.selected[data-household="${id}"]`)""",
        arg=overdue.pk,
    )
    page.wait_for_timeout(400)  # the map's pan animation
    assert view.centred_on(overdue)

    # Overdue only: the one household; the visit takes it off the list without a reload.
    view.show("overdue")
    assert view.rows().count() == 1
    view.visit(overdue, NOTE, shot="grid_page_phone-form.png")
    page.screenshot(path=str(ARTIFACTS / "grid_page_phone-visited.png"))
    assert view.rows().count() == 0
    assert page.locator("#gp-list .gp-empty").inner_text() == "没有逾期住户"
    assert view.count("overdue") == "0"
    assert page.locator(".gp-hh.overdue").count() == 0
    assert "已登记走访：新华北路47号 2单元 3层 301室" in page.locator("#gp-status").inner_text()
    visit = Visit.objects.get(household=overdue, note=NOTE)
    assert visit.username == "grid_worker-browser"
    assert visit.staff_member.unit_id == world["g1"].id
    assert not visit.photo

    # Among all households it is now visited.
    view.show("all")
    assert view.row(overdue).locator(".gp-state").inner_text() == "已走访"
    assert view.rows().count() == 6
    view.assert_clean()


@pytest.mark.browser
def test_a_visit_with_a_photo_from_the_phone_clears_a_household_due_today(homes, world, grid_as):
    view = open_as_worker(grid_as, world)
    page = view.page
    red = homes["red"]
    view.show("due_today")
    assert view.row(red).count() == 1
    view.visit(red, "门口交谈", photo=PNG, shot="grid_page_phone-photo-form.png")
    assert view.row(red).count() == 0
    visit = Visit.objects.get(household=red)
    assert visit.note == "门口交谈"
    assert visit.photo
    view.show("all")
    assert view.row(red).locator(".gp-state").inner_text() == "已走访"
    page.screenshot(path=str(ARTIFACTS / "grid_page_phone-photo.png"))
    view.assert_clean()


@pytest.mark.browser
def test_a_planner_picks_a_grid_and_reads_it_without_personal_data_or_visit_buttons(
    homes, world, grid_as
):
    view = grid_as("planner")
    view.open(PATH)
    page = view.page
    assert "请选择一个网格" in page.locator(".gp-choose").inner_text()
    with page.expect_navigation():
        page.select_option("#gp-switch select[name=grid]", str(world["g1"].id))
    page.wait_for_selector("body[data-grid-ready]")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"{PATH}?grid={world['g1'].id}")
    assert view.rows().count() == 6
    assert view.rows().first.get_attribute("data-household") == str(homes["overdue"].pk)
    text = page.locator("#gp-list").inner_text()
    assert "新华北路47号 2单元 3层" in text
    assert "301室" not in text and "王秀兰" not in text
    assert page.locator("#gp-list button.gp-visit-button").count() == 0
    assert page.locator("#gp-visit").count() == 0
    assert page.locator(".gp-readonly").inner_text() == "只读"
    page.screenshot(path=str(ARTIFACTS / "grid_page_phone-planner.png"))
    view.assert_clean()
