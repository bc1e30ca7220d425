"""Map pages of the layers: the dispatcher's desk at /map/dispatch/ (docs/dispatch.md).

A folium map like the planner's (gridmap.pages): every asset served by the app, no basemap
unless settings.GRIDMAP_TILE_URL names one; the page script loads everything from the API.
"""

from __future__ import annotations

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

from gridmap.pages import LEAFLET_CSS, LEAFLET_JS
from layers.models import Incident, IncidentTransition
from layers.workflow import TRANSITIONS


def dispatch_map() -> tuple[folium.Map, dict[str, str]]:
    """The dispatcher's folium map and the JavaScript names of its layer groups.

    The groups start empty; dispatch.js fills them from the API by bounding box.
    """
    lon, lat = settings.GRIDMAP_DEFAULT_CENTER
    fmap = folium.Map(
        location=[lat, lon],
        zoom_start=settings.GRIDMAP_DEFAULT_ZOOM,
        tiles=None,
        control_scale=True,
        max_zoom=20,
    )
    fmap.default_js = [(name, static(path)) for name, path in LEAFLET_JS]
    fmap.default_css = [(name, static(path)) for name, path in LEAFLET_CSS]
    if settings.GRIDMAP_TILE_URL:
        folium.TileLayer(
            tiles=settings.GRIDMAP_TILE_URL,
            attr=settings.GRIDMAP_TILE_ATTRIBUTION or " ",
            name=_("底图"),
            max_zoom=20,
        ).add_to(fmap)
    overlays = [
        ("grid", _("网格"), True),
        ("buildings", pgettext("map layer", "建筑"), True),
        ("sectors", _("摄像头视域"), True),
        ("incidents", _("事件"), True),
    ]
    groups = {}
    for key, name, show in overlays:
        group = folium.FeatureGroup(name=name, show=show).add_to(fmap)
        groups[key] = group.get_name()
    folium.LayerControl(collapsed=True, position="topright").add_to(fmap)
    return fmap, groups


def _api_paths() -> dict[str, Any]:
    """API paths for dispatch.js; `{id}` stands for a case or unit id."""

    def with_id(name: str) -> str:
        return reverse(name, args=[0]).replace("/0/", "/{id}/")

    return {
        "dispatch": reverse("dispatch"),
        "sectors": reverse("dispatch-cameras"),
        "incidents": reverse("incidents"),
        "incident": with_id("incident-detail"),
        "transition": with_id("incident-transition"),
        "escalate": with_id("incident-escalate"),
        "reports": with_id("incident-reports"),
        "search": reverse("search"),
        "units": reverse("unit-list"),
        "unit": with_id("unit-detail"),
        "buildings": reverse("layer-buildings"),
    }


def _actions() -> dict[str, dict[str, Any]]:
    """Every case action for dispatch.js: its label and what its form asks for, from the
    workflow's own table (escalate asks for a reason; open and report are not offered)."""
    actions = {}
    for action, label in IncidentTransition.Action.choices:
        transition = TRANSITIONS.get(action)
        actions[action] = {
            "label": str(label),
            "takes": sorted(transition.takes) if transition else [],
            "requires": sorted(transition.requires) if transition else [],
            "needsNote": transition.needs_note if transition else False,
        }
    return actions


@login_required
def dispatch(request: HttpRequest) -> HttpResponse:
    """调度台 / the dispatcher's desk: locate a report, route it, open and run its case."""
    user = request.user
    if not user.has_perm("layers.view_incident"):
        raise PermissionDenied
    fmap, groups = dispatch_map()
    root = fmap.get_root()
    root.render()
    can_open = user.has_perm("layers.add_incident")
    config = {
        "map": fmap.get_name(),
        "groups": groups,
        "api": _api_paths(),
        "canOpen": can_open,
        "categories": [[value, str(label)] for value, label in Incident.Category.choices],
        "statuses": [[value, str(label)] for value, label in Incident.Status.choices],
        "actions": _actions(),
        "finished": [str(status) for status in Incident.FINISHED],
        "csrfToken": get_token(request),
    }
    return render(
        request,
        "map/dispatch.html",
        {
            "map_header": root.header.render(),
            "map_html": root.html.render(),
            "map_script": root.script.render(),
            "dispatch_config": config,
            "can_open": can_open,
            "categories": Incident.Category.choices,
            "statuses": Incident.Status.choices,
        },
    )
