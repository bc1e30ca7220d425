"""Map pages: the planner's map at /map/plan/, a folium map whose data the page loads from the API,
and what every map page is built with (offline_map, path_with_id, render_map_page).

Every asset is served by the app (static/vendor/): folium's own CDN links are replaced, and the
map has no basemap unless settings.GRIDMAP_TILE_URL names one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import folium
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from folium.plugins import GeoMan

from gridmap.models import GridUnit
from gridmap.staffing import WORKLOAD_TOLERANCE

# Leaflet and jQuery (folium's popups use it) replace folium's CDN defaults; folium's Bootstrap
# and Font Awesome markers are dropped: the page uses neither, and Bootstrap's CSS would restyle
# the site's header.
LEAFLET_JS = [("leaflet", "vendor/leaflet/leaflet.js"), ("jquery", "vendor/jquery/jquery.min.js")]
LEAFLET_CSS = [("leaflet_css", "vendor/leaflet/leaflet.css")]
GEOMAN_JS = [("leaflet_geoman_js", "vendor/leaflet-geoman/leaflet-geoman.min.js")]
GEOMAN_CSS = [("leaflet_geoman_css", "vendor/leaflet-geoman/leaflet-geoman.css")]
# Leaflet.VectorGrid draws the vector tiles of /tiles/ (docs/tiles.md).
VECTORGRID_JS = [
    ("leaflet_vectorgrid", "vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js")
]
# The edit operations of docs/editing.md, each at /api/units/{id}/<operation>/.
EDIT_OPERATIONS = ("reshape", "split", "merge", "transfer", "restore")


def _served(assets: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, static(path)) for name, path in assets]


def offline_map(
    overlays: Sequence[tuple[str, str, bool]],
    *,
    tools: Sequence[folium.MacroElement] = (),
    collapsed: bool = False,
    scripts: Sequence[tuple[str, str]] = (),
) -> tuple[folium.Map, dict[str, str]]:
    """A folium map at the default centre and zoom, on the vendored Leaflet, with the basemap of
    settings.GRIDMAP_TILE_URL if any; one empty layer group per overlay (key, name, shown at
    start), then `tools`, then the layer control (`collapsed`: folded into its icon). `scripts`:
    further vendored scripts (name, path under static/) loaded after Leaflet.

    Returns the map and the JavaScript names of the layer groups by key: the page script fills
    the groups from the API by bounding box, so the page stays small however large the data is.
    """
    lon, lat = settings.GRIDMAP_DEFAULT_CENTER
    fmap = folium.Map(
        location=[lat, lon],
        zoom_start=settings.GRIDMAP_DEFAULT_ZOOM,
        tiles=None,
        control_scale=True,
        max_zoom=20,
        # Leaflet option as is: without it the map takes the lowest minZoom of its tile layers
        # as its own, and could not be zoomed out beyond where the vector tiles start.
        minZoom=0,
    )
    fmap.default_js = _served([*LEAFLET_JS, *scripts])
    fmap.default_css = _served(LEAFLET_CSS)
    if settings.GRIDMAP_TILE_URL:
        folium.TileLayer(
            tiles=settings.GRIDMAP_TILE_URL,
            attr=settings.GRIDMAP_TILE_ATTRIBUTION or " ",
            name=_("底图"),
            max_zoom=20,
        ).add_to(fmap)
    groups = {}
    for key, name, show in overlays:
        group = folium.FeatureGroup(name=name, show=show).add_to(fmap)
        groups[key] = group.get_name()
    for tool in tools:
        tool.add_to(fmap)
    folium.LayerControl(collapsed=collapsed, position="topright").add_to(fmap)
    return fmap, groups


def path_with_id(url_name: str) -> str:
    """The path of a URL that takes one id, with `{id}` in its place for the page script."""
    return reverse(url_name, args=[0]).replace("/0/", "/{id}/")


def tile_path(layer: str) -> str:
    """The path of a published layer's vector tiles, with `{z}/{x}/{y}` for Leaflet."""
    return reverse("tile", args=[layer, 0, 0, 0]).removesuffix("/0/0/0.pbf") + "/{z}/{x}/{y}.pbf"


def render_map_page(
    request: HttpRequest,
    template: str,
    fmap: folium.Map,
    groups: dict[str, str],
    *,
    config: dict[str, Any],
    **context: Any,
) -> HttpResponse:
    """A map page: `context`, folium's pieces (map_header, map_html, map_script) and map_config,
    the page script's configuration: `config` with the JavaScript names of the map and its
    layer groups and the CSRF token."""
    root = fmap.get_root()
    root.render()
    map_config = {
        "map": fmap.get_name(),
        "groups": groups,
        **config,
        "csrfToken": get_token(request),
    }
    return render(
        request,
        template,
        {
            "map_header": root.header.render(),
            "map_html": root.html.render(),
            "map_script": root.script.render(),
            "map_config": map_config,
            **context,
        },
    )


def plan_map(can_edit: bool) -> tuple[folium.Map, dict[str, str]]:
    """The planner's folium map and the JavaScript names of its layer groups.

    Geoman (the editing library) is loaded only for planners.
    """
    overlays = [
        ("network", _("网域"), True),
        ("segment", _("网段"), True),
        ("node", _("网节"), True),
        ("grid", _("网格"), True),
        ("buildings", pgettext("map layer", "建筑"), True),
        ("cameras", pgettext("map layer", "摄像头"), False),
        ("households", pgettext("map layer", "住户"), False),
    ]
    tools = []
    if can_edit:
        # Geoman's own toolbar stays hidden: the page's panel offers the four edit operations
        # and drives Geoman itself.
        geoman = GeoMan(
            position="topleft",
            drawMarker=False,
            drawCircleMarker=False,
            drawPolyline=False,
            drawRectangle=False,
            drawPolygon=False,
            drawCircle=False,
            drawText=False,
            editMode=False,
            dragMode=False,
            cutPolygon=False,
            removalMode=False,
            rotateMode=False,
        )
        geoman.default_js = _served(GEOMAN_JS)
        geoman.default_css = _served(GEOMAN_CSS)
        tools.append(geoman)
    return offline_map(overlays, tools=tools, scripts=VECTORGRID_JS)


def _api_paths() -> dict[str, Any]:
    """API paths for plan.js, reversed from their URL names; `{id}` stands for a unit or edit id."""
    return {
        "units": reverse("unit-list"),
        "unit": path_with_id("unit-detail"),
        "summary": path_with_id("unit-summary"),
        "history": path_with_id("unit-history"),
        "edit": {operation: path_with_id(f"unit-{operation}") for operation in EDIT_OPERATIONS},
        "undo": path_with_id("edit-undo"),
        "search": reverse("search"),
        "cameras": reverse("layer-cameras"),
        "households": reverse("layer-households"),
        "load": reverse("layer-load"),
        "importUnits": reverse("import-units"),
        # Large layers as vector tiles: the page asks only for the tiles in view.
        "tiles": {layer: tile_path(layer) for layer in ("buildings", "households")},
    }


@login_required
def plan(request: HttpRequest) -> HttpResponse:
    """规划地图 / the planner's map: four levels, layers, search, unit panel, boundary editing
    and import."""
    user = request.user
    if not user.has_perm("gridmap.view_gridunit"):
        raise PermissionDenied
    can_edit = user.has_perm("gridmap.change_gridunit")
    can_import = user.has_perms(["gridmap.add_gridunit", "gridmap.change_gridunit"])
    fmap, groups = plan_map(can_edit)
    return render_map_page(
        request,
        "map/plan.html",
        fmap,
        groups,
        config={
            "api": _api_paths(),
            "canEdit": can_edit,
            "levels": GridUnit.Level.values,
        },
        can_edit=can_edit,
        can_import=can_import,
        under_percent=round(100 * (1 - WORKLOAD_TOLERANCE)),
        over_percent=round(100 * (1 + WORKLOAD_TOLERANCE)),
    )
