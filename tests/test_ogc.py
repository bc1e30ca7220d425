"""OGC API – Features at /ogc/: the documents, paging and filters, JSON and HTML, access, and
GDAL's OAPIF driver reading it from a live server."""

from __future__ import annotations

import re
import shutil
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.gis.geos import Point
from django.test import Client
from django.utils import timezone

from layers.models import Facility, LayerPublication, PlatformToken
from tests.browser import ARTIFACTS, logged_in_client
from tests.conftest import G1, G2, G3, NETWORK, NODE, SEGMENT

pytestmark = pytest.mark.django_db

BASE = "http://testserver/ogc/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONF = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"


def platform(*layers: str) -> PlatformToken:
    return PlatformToken.objects.create(name="城市大脑", layers=list(layers))


def bearer(token: PlatformToken) -> Client:
    return Client(headers={"authorization": f"Bearer {token.key}"})


@pytest.fixture
def units_reader(world) -> Client:
    return bearer(platform("units", "facilities"))


def links(document: dict, rel: str) -> list[dict]:
    return [link for link in document["links"] if link["rel"] == rel]


def one_link(document: dict, rel: str, media_type: str | None = None) -> str:
    found = [
        link["href"]
        for link in links(document, rel)
        if media_type is None or link["type"] == media_type
    ]
    assert len(found) == 1, (rel, media_type, document["links"])
    return found[0]


def local(url: str) -> str:
    """An absolute link of the test server as a path the test client can follow."""
    assert url.startswith("http://testserver/"), url
    return url.removeprefix("http://testserver")


def ids(collection: dict) -> list[int]:
    return [feature["id"] for feature in collection["features"]]


def facilities(n: int) -> list[Facility]:
    return [
        Facility.objects.create(
            kind=Facility.Kind.MEDICAL, name=f"卫生站{i}", location=Point(98.0001 * i, 39.001)
        )
        for i in range(1, n + 1)
    ]


# --- documents ---------------------------------------------------------------------------------


def test_landing_page_links_its_definition_conformance_and_collections():
    response = Client().get("/ogc/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    landing = response.json()
    assert "GridMap" in landing["title"] and landing["description"]
    assert one_link(landing, "self", "application/json") == BASE + "?f=json"
    assert one_link(landing, "alternate", "text/html") == BASE + "?f=html"
    assert (
        one_link(landing, "service-desc", "application/vnd.oai.openapi+json;version=3.0")
        == BASE + "api"
    )
    assert one_link(landing, "conformance", "application/json") == BASE + "conformance?f=json"
    assert one_link(landing, "data", "application/json") == BASE + "collections?f=json"


def test_conformance_declares_core_geojson_html_and_openapi():
    response = Client().get("/ogc/conformance")
    assert response.status_code == 200
    assert sorted(response.json()["conformsTo"]) == sorted(
        CONF + name for name in ("core", "geojson", "html", "oas30")
    )


def test_api_definition_is_openapi_3_with_the_items_of_each_readable_collection(units_reader):
    response = units_reader.get("/ogc/api")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.oai.openapi+json;version=3.0"
    api = response.json()
    assert api["openapi"].startswith("3.0.")
    assert api["servers"] == [{"url": "http://testserver/ogc"}]
    generic = api["paths"]["/collections/{collectionId}/items"]["get"]["parameters"]
    limit = next(p for p in generic if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 10000, "default": 10}
    for path in (
        "/",
        "/conformance",
        "/collections",
        "/collections/{collectionId}/items/{featureId}",
    ):
        assert path in api["paths"]
    own = {p["name"] for p in api["paths"]["/collections/units/items"]["get"]["parameters"]}
    assert own == {"bbox", "limit", "offset", "parent", "level", "f"}
    # Only what this token may read is described.
    assert "/collections/buildings/items" not in api["paths"]


def test_collections_lists_only_the_layers_the_token_may_read(units_reader):
    response = units_reader.get("/ogc/collections")
    assert response.status_code == 200
    document = response.json()
    assert [c["id"] for c in document["collections"]] == ["units", "facilities"]
    units = document["collections"][0]
    assert units["title"] and units["description"]
    assert units["itemType"] == "feature"
    assert units["crs"] == [CRS84]
    assert one_link(units, "items", "application/geo+json") == (
        BASE + "collections/units/items?f=json"
    )
    assert one_link(units, "items", "text/html") == BASE + "collections/units/items?f=html"
    assert one_link(document, "self", "application/json") == BASE + "collections?f=json"


def test_collection_extent_is_the_extent_of_its_data(units_reader):
    units = units_reader.get("/ogc/collections/units").json()
    # The world spans 98.000–98.006 E, 39.000–39.002 N.
    assert units["extent"]["spatial"] == {"bbox": [[98.0, 39.0, 98.006, 39.002]], "crs": CRS84}
    assert one_link(units, "self", "application/json") == BASE + "collections/units?f=json"


def test_an_empty_collection_has_no_extent_but_is_listed(units_reader):
    facilities_ = units_reader.get("/ogc/collections/facilities").json()
    assert facilities_["id"] == "facilities"
    assert "extent" not in facilities_


# --- items -------------------------------------------------------------------------------------


def test_items_page_through_the_units_in_id_order_without_duplicates(world, units_reader):
    every = sorted(unit.id for unit in world.values())
    first = units_reader.get("/ogc/collections/units/items?limit=4")
    assert first.status_code == 200
    assert first["Content-Type"] == "application/geo+json"
    page1 = first.json()
    assert page1["type"] == "FeatureCollection"
    assert (page1["numberMatched"], page1["numberReturned"]) == (6, 4)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", page1["timeStamp"])
    assert ids(page1) == every[:4]
    assert links(page1, "prev") == []
    next_url = one_link(page1, "next", "application/geo+json")
    assert parse_qs(urlsplit(next_url).query) == {"limit": ["4"], "offset": ["4"], "f": ["json"]}

    page2 = units_reader.get(local(next_url)).json()
    assert (page2["numberMatched"], page2["numberReturned"]) == (6, 2)
    assert ids(page2) == every[4:]
    assert links(page2, "next") == []
    # The previous page is the first: no offset.
    assert parse_qs(urlsplit(one_link(page2, "prev")).query) == {"limit": ["4"], "f": ["json"]}
    assert set(ids(page1)).isdisjoint(ids(page2))


def test_items_default_to_ten_a_page_and_count_all_matches(world):
    facilities(12)
    LayerPublication.objects.create(layer="facilities", anonymous=True)
    page = Client().get("/ogc/collections/facilities/items").json()
    assert (page["numberMatched"], page["numberReturned"]) == (12, 10)
    assert [f["properties"]["name"] for f in page["features"]][:2] == ["卫生站1", "卫生站2"]
    assert "offset=10" in one_link(page, "next")


def test_an_offset_past_the_end_returns_no_features_but_the_count(units_reader):
    page = units_reader.get("/ogc/collections/units/items?offset=100").json()
    assert (page["numberMatched"], page["numberReturned"], page["features"]) == (6, 0, [])
    assert links(page, "next") == []


def test_features_are_rfc7946_with_the_published_properties(world, units_reader):
    page = units_reader.get(f"/ogc/collections/units/items?parent={NODE}&limit=1").json()
    g1 = page["features"][0]
    assert g1["id"] == world["g1"].id
    assert g1["geometry"]["type"] == "MultiPolygon"
    assert g1["properties"] == {
        "code": G1,
        "name": "第一网格",
        "level": "grid",
        "parent_code": NODE,
        "version": world["g1"].version,
    }


def test_bbox_keeps_the_features_that_intersect_it(units_reader):
    page = units_reader.get("/ogc/collections/units/items?bbox=98.0005,39.0005,98.0015,39.0015")
    codes = {f["properties"]["code"] for f in page.json()["features"]}
    assert codes == {NETWORK, SEGMENT, NODE, G1}


def test_parent_and_level_filters_select_units_under_a_unit(units_reader):
    def codes(query: str) -> set[str]:
        page = units_reader.get(f"/ogc/collections/units/items?{query}").json()
        assert page["numberMatched"] == page["numberReturned"]
        return {f["properties"]["code"] for f in page["features"]}

    assert codes(f"parent={NETWORK}") == {SEGMENT, NODE, G1, G2, G3}
    assert codes(f"parent={NETWORK}&level=grid") == {G1, G2, G3}
    assert codes("level=node") == {NODE}


def test_filters_are_carried_into_the_next_page(units_reader):
    page = units_reader.get(f"/ogc/collections/units/items?parent={NETWORK}&limit=2").json()
    query = parse_qs(urlsplit(one_link(page, "next")).query)
    assert query["parent"] == [NETWORK] and query["offset"] == ["2"]
    page2 = units_reader.get(local(one_link(page, "next"))).json()
    assert [f["properties"]["code"] for f in page2["features"]] == [G1, G2]


def test_a_single_item_is_a_feature_with_its_links(world, units_reader):
    g2 = world["g2"]
    response = units_reader.get(f"/ogc/collections/units/items/{g2.id}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    feature = response.json()
    assert (feature["type"], feature["id"]) == ("Feature", g2.id)
    assert feature["properties"]["code"] == G2
    # The two holes of G2 are in its polygon.
    assert len(feature["geometry"]["coordinates"][0]) == 3
    assert one_link(feature, "self", "application/geo+json") == (
        f"{BASE}collections/units/items/{g2.id}?f=json"
    )
    assert one_link(feature, "collection") == BASE + "collections/units?f=json"


@pytest.mark.parametrize("feature_id", ["999999999", "abc", "99999999999999999999999"])
def test_a_missing_item_is_404_in_the_error_shape(units_reader, feature_id):
    response = units_reader.get(f"/ogc/collections/units/items/{feature_id}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert response.json()["where"] == "featureId"


def test_an_unknown_collection_or_path_is_404_in_the_error_shape(units_reader):
    response = units_reader.get("/ogc/collections/parcels/items")
    assert (response.status_code, response.json()["where"]) == (404, "collectionId")
    response = units_reader.get("/ogc/tiles")
    assert (response.status_code, response.json()["error"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("bbox=98,39,98.1", "bbox"),
        ("bbox=98.1,39,98,39.1", "bbox"),
        ("level=street", "level"),
        ("parent=62x", "parent"),
        ("datetime=2024-01-01T00:00:00Z", "datetime"),
        ("limt=5", "limt"),
        ("f=xml", "f"),
    ],
)
def test_a_bad_parameter_is_400_and_says_which(units_reader, query, where):
    response = units_reader.get(f"/ogc/collections/units/items?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["where"] == where
    assert " / " in body["detail"]  # 中文 / English


def test_a_filter_the_layer_does_not_have_is_400(world):
    response = bearer(platform("buildings")).get("/ogc/collections/buildings/items?level=grid")
    assert (response.status_code, response.json()["where"]) == (400, "level")


# --- HTML --------------------------------------------------------------------------------------


def assert_same_host(html: str) -> None:
    """Every address in the page is on this server: no CDN, no basemap from elsewhere."""
    for url in re.findall(r"https?://[^\s\"'<>)]+", html):
        assert url.startswith("http://testserver/") or url.startswith(CONF), url


def test_items_as_html_via_f_show_a_table_a_map_and_the_pages(world, units_reader):
    response = units_reader.get("/ogc/collections/units/items?f=html&level=grid&limit=2")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert G1 in html and G2 in html and G3 not in html
    assert "第 1–2 个，共 3 个 / 1–2 of 3" in html
    assert "/static/vendor/leaflet/leaflet.js" in html
    assert f"/ogc/collections/units/items/{world['g1'].id}?f=html" in html
    assert "offset=2" in html and "level=grid" in html
    assert_same_host(html)


@pytest.mark.parametrize(
    "path",
    ["/ogc/", "/ogc/conformance", "/ogc/collections", "/ogc/collections/units"],
)
def test_a_browser_asking_for_html_gets_html(units_reader, path):
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = units_reader.get(path, headers={"accept": accept})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "Accept" in response["Vary"]
    html = response.content.decode()
    assert "<table" in html or "<ul>" in html
    assert_same_host(html)


def test_the_collections_page_links_each_collection_page(units_reader):
    html = units_reader.get("/ogc/collections?f=html").content.decode()
    assert 'href="http://testserver/ogc/collections/units?f=html">units</a>' in html
    assert 'href="http://testserver/ogc/collections/facilities/items?f=html"' in html
    assert 'href="http://testserver/ogc/collections?f=json">JSON</a>' in html


@pytest.mark.browser
def test_the_items_page_draws_the_features_on_its_map_from_this_server_only(
    world, browser, live_server, transactional_db
):
    key = platform("units").key
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    foreign, errors = [], []
    own = urlsplit(live_server.url).netloc
    page.on("request", lambda r: urlsplit(r.url).netloc == own or foreign.append(r.url))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server.url}/ogc/collections/units/items?f=html&token={key}")
    page.wait_for_selector("#ogc-map path.leaflet-interactive")
    assert page.locator("#ogc-map path.leaflet-interactive").count() == 6
    assert page.locator("table.units tbody tr").count() == 6
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ogc-items.png"))
    context.close()
    assert (foreign, errors) == ([], [])


def test_an_item_as_html_shows_its_properties(world, units_reader):
    response = units_reader.get(
        f"/ogc/collections/units/items/{world['g3'].id}", headers={"accept": "text/html"}
    )
    html = response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert G3 in html and "第三网格" in html and 'id="ogc-features"' in html


def test_f_json_wins_over_accept_and_geojson_accept_gets_json(units_reader):
    html_accept = {"accept": "text/html"}
    response = units_reader.get("/ogc/collections/units/items?f=json", headers=html_accept)
    assert response["Content-Type"] == "application/geo+json"
    response = units_reader.get(
        "/ogc/collections/units/items", headers={"accept": "application/geo+json"}
    )
    assert response["Content-Type"] == "application/geo+json"


def test_a_logged_in_viewer_browses_the_collections_with_the_session(world):
    client = logged_in_client("viewer", "ogc-viewer")
    response = client.get("/ogc/collections/units/items?f=html")
    assert response.status_code == 200
    assert G1 in response.content.decode()


# --- access ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/ogc/collections",
        "/ogc/collections/units",
        "/ogc/collections/units/items",
        "/ogc/collections/units/items/1",
    ],
)
def test_anonymous_gets_401_and_no_data(world, path):
    response = Client().get(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"] == "not_authenticated"
    assert "620200" not in response.content.decode()


def test_a_token_reads_the_layers_of_its_scope_only(world):
    reader = bearer(platform("units"))
    assert reader.get("/ogc/collections/units/items").status_code == 200
    response = reader.get("/ogc/collections/buildings/items")
    assert (response.status_code, response.json()["error"]) == (403, "permission_denied")
    assert reader.get("/ogc/collections/buildings").status_code == 403


def test_a_token_in_the_query_string_is_carried_into_every_link(world):
    key = platform("units").key
    page = Client().get(f"/ogc/collections/units/items?token={key}&limit=4").json()
    for rel in ("self", "alternate", "next", "collection"):
        for link in links(page, rel):
            assert parse_qs(urlsplit(link["href"]).query)["token"] == [key], rel
    second = Client().get(local(one_link(page, "next"))).json()
    assert second["numberReturned"] == 2
    document = Client().get(f"/ogc/collections?token={key}").json()
    assert f"token={key}" in one_link(document["collections"][0], "items", "application/geo+json")
    landing = Client().get(f"/ogc/?token={key}").json()
    assert f"token={key}" in one_link(landing, "data")


def test_a_bearer_token_is_not_written_into_links(units_reader):
    page = units_reader.get("/ogc/collections/units/items?limit=1")
    assert "token" not in page.content.decode()


def test_a_revoked_token_gets_401_everywhere(world):
    token = platform("units")
    token.revoked_at = timezone.now()
    token.save()
    for path in ("/ogc/", "/ogc/collections", "/ogc/collections/units/items"):
        response = bearer(token).get(path)
        assert (response.status_code, response.json()["error"]) == (401, "authentication_failed")
        assert Client().get(f"{path}?token={token.key}").status_code == 401


def test_a_layer_switched_to_anonymous_is_readable_without_login(world):
    facilities(2)
    LayerPublication.objects.create(layer="facilities", anonymous=True)
    anonymous = Client()
    document = anonymous.get("/ogc/collections").json()
    assert [c["id"] for c in document["collections"]] == ["facilities"]
    page = anonymous.get("/ogc/collections/facilities/items").json()
    assert page["numberMatched"] == 2
    assert anonymous.get("/ogc/collections/units/items").status_code == 401


def test_the_landing_page_and_conformance_are_open_to_anyone(world):
    assert Client().get("/ogc/").status_code == 200
    assert Client().get("/ogc/conformance").status_code == 200
    assert "/collections/units/items" not in Client().get("/ogc/api").json()["paths"]


def test_the_rate_limit_of_a_token_answers_429(world):
    token = PlatformToken.objects.create(name="慢", layers=["units"], requests_per_minute=2)
    reader = bearer(token)
    statuses = [reader.get("/ogc/collections/units/items").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert reader.get("/ogc/collections/units/items")["Retry-After"]


# --- GDAL --------------------------------------------------------------------------------------

OGRINFO = shutil.which("ogrinfo")


def ogrinfo(*args: str) -> str:
    result = subprocess.run(
        [OGRINFO, "-ro", *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(OGRINFO is None, reason="GDAL's ogrinfo is not installed")
def test_gdal_reads_the_collections_and_pages_through_the_features(
    world, live_server, transactional_db
):
    token = platform("units", "facilities")
    facilities(12)
    url = f"OAPIF:{live_server.url}/ogc/"
    header = ["--config", "GDAL_HTTP_HEADERS", f"Authorization: Bearer {token.key}"]

    listing = ogrinfo(*header, "-so", url)
    assert re.search(r"1: units \(title: .+\) \(Multi Polygon\)", listing)
    assert "2: facilities" in listing and "buildings" not in listing

    units = ogrinfo(*header, "-so", url, "units")
    assert "Feature Count: 6" in units
    assert "Extent: (98.000000, 39.000000) - (98.006000, 39.002000)" in units
    for field in ("code: String", "name: String", "level: String", "version: Integer"):
        assert field in units

    features = ogrinfo(*header, "-al", "-q", url, "units")
    assert features.count("OGRFeature(units):") == 6
    assert f"code (String) = {G2}" in features and "name (String) = 第二网格" in features

    # 12 facilities: GDAL pages of 10 follow the next link, here with the token in the URL.
    by_query = ogrinfo("-al", "-q", f"OAPIF:{live_server.url}/ogc/?token={token.key}", "facilities")
    assert by_query.count("OGRFeature(facilities):") == 12
    assert "name (String) = 卫生站12" in by_query
