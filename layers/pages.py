"""Map pages of the layers: the dispatcher's desk at /map/dispatch/ (docs/dispatch.md) and the
15-minute service circles at /map/coverage/ (docs/coverage.md).

A folium map like the planner's, built by gridmap.pages: every asset served by the app, no
basemap unless settings.GRIDMAP_TILE_URL names one; the page script loads everything from the API.
"""

from __future__ import annotations

from typing import Any

import folium
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from gridmap.pages import offline_map, path_with_id, render_map_page
from layers.coverage import THRESHOLDS
from layers.models import Facility, Incident, IncidentTransition
from layers.workflow import TRANSITIONS


def dispatch_map() -> tuple[folium.Map, dict[str, str]]:
    """The dispatcher's folium map and the JavaScript names of its layer groups."""
    overlays = [
        ("grid", _("网格"), True),
        ("buildings", pgettext("map layer", "建筑"), True),
        ("sectors", _("摄像头视域"), True),
        ("incidents", _("事件"), True),
    ]
    return offline_map(overlays, collapsed=True)


def _api_paths() -> dict[str, Any]:
    """API paths for dispatch.js; `{id}` stands for a case or unit id."""
    return {
        "dispatch": reverse("dispatch"),
        "sectors": reverse("dispatch-cameras"),
        "incidents": reverse("incidents"),
        "incident": path_with_id("incident-detail"),
        "transition": path_with_id("incident-transition"),
        "escalate": path_with_id("incident-escalate"),
        "reports": path_with_id("incident-reports"),
        "search": reverse("search"),
        "units": reverse("unit-list"),
        "unit": path_with_id("unit-detail"),
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
    can_open = user.has_perm("layers.add_incident")
    return render_map_page(
        request,
        "map/dispatch.html",
        fmap,
        groups,
        config={
            "api": _api_paths(),
            "categories": [[value, str(label)] for value, label in Incident.Category.choices],
            "statuses": [[value, str(label)] for value, label in Incident.Status.choices],
            "actions": _actions(),
            "finished": [str(status) for status in Incident.FINISHED],
        },
        can_open=can_open,
        categories=Incident.Category.choices,
        statuses=Incident.Status.choices,
    )


def coverage_map() -> tuple[folium.Map, dict[str, str]]:
    """The service-circle map and the JavaScript names of its layer groups."""
    overlays = [
        ("grid", _("网格覆盖率"), True),
        ("isochrones", _("服务圈"), True),
        ("households", _("住户步行时间"), True),
        ("holes", _("未覆盖住户"), True),
        ("facilities", _("服务设施"), True),
        ("sites", _("选址建议"), True),
    ]
    return offline_map(overlays, collapsed=True)


def _coverage_api_paths() -> dict[str, Any]:
    """API paths for coverage.js; `{id}` stands for a unit id."""
    return {
        "isochrones": reverse("coverage-isochrones"),
        "coverage": reverse("coverage-units"),
        "unitCoverage": path_with_id("coverage-unit"),
        "buildings": reverse("coverage-buildings"),
        "siting": reverse("coverage-siting"),
        "facilities": reverse("layer-facilities"),
        "units": reverse("unit-list"),
        "unit": path_with_id("unit-detail"),
    }


@login_required
def coverage(request: HttpRequest) -> HttpResponse:
    """15分钟生活圈 / the service circles of a kind, coverage per grid, the households left out
    and where new facilities would reach them."""
    user = request.user
    if not user.has_perm("gridmap.view_gridunit"):
        raise PermissionDenied
    fmap, groups = coverage_map()
    kinds = Facility.Kind.choices
    return render_map_page(
        request,
        "map/coverage.html",
        fmap,
        groups,
        config={
            "api": _coverage_api_paths(),
            "kinds": [[value, str(label)] for value, label in kinds],
            "thresholds": list(THRESHOLDS),
        },
        kinds=kinds,
        thresholds=THRESHOLDS,
    )
