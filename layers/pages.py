"""Map pages of the layers: the dispatcher's desk at /map/dispatch/ (docs/dispatch.md), the
15-minute service circles at /map/coverage/ (docs/coverage.md) and the grid worker's page at
/map/grid/ (docs/grid_page.md).

A folium map like the planner's, built by gridmap.pages: every asset served by the app, no
basemap unless settings.GRIDMAP_TILE_URL names one; the page script loads everything from the API.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

import folium
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from gridmap.models import GridUnit
from gridmap.pages import offline_map, path_with_id, render_map_page
from layers import visits
from layers.coverage import THRESHOLDS
from layers.models import Facility, Household, Incident, IncidentTransition
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


def grid_map() -> tuple[folium.Map, dict[str, str]]:
    """The grid worker's map and the JavaScript names of its layer groups."""
    overlays = [
        ("grid", _("网格"), True),
        ("buildings", pgettext("map layer", "建筑"), True),
        ("households", pgettext("map layer", "住户"), True),
    ]
    return offline_map(overlays, collapsed=True)


def _grid_api_paths() -> dict[str, Any]:
    """API paths for grid.js; `{id}` stands for a unit or household id."""
    return {
        "due": reverse("visits-due"),
        "workload": reverse("visits-workload"),
        "visits": path_with_id("household-visits"),
        "unit": path_with_id("unit-detail"),
        "buildings": reverse("layer-buildings"),
    }


def _chosen_grid(request: HttpRequest, visible: frozenset[int] | None) -> GridUnit | None:
    """The grid of `?grid=<id>`; without it the user's first grid (lowest code), or None for a
    user who may see every grid and has to choose one. 404 for what is not a grid, 403 for a
    grid the user may not see."""
    raw = request.GET.get("grid")
    if not raw:
        if visible is None:
            return None
        return GridUnit.objects.grids().filter(pk__in=visible).order_by("code").first()
    if not (raw.isascii() and raw.isdigit()):
        raise Http404
    grid = GridUnit.objects.grids().filter(pk=int(raw)).first()
    if grid is None:
        raise Http404
    if visible is not None and grid.pk not in visible:
        raise PermissionDenied
    return grid


def _grid_choices(visible: frozenset[int] | None) -> list[tuple[str, list[GridUnit]]]:
    """The grids the switcher offers, by community (node), lowest code first."""
    grids = GridUnit.objects.grids().select_related("parent").order_by("code")
    if visible is not None:
        grids = grids.filter(pk__in=visible)
    grids = grids.only("id", "code", "name", "parent__name")
    by_node = (list(members) for _node, members in groupby(grids, key=lambda g: g.parent_id))
    return [(members[0].parent.name if members[0].parent else "", members) for members in by_node]


def household_positions(grid: GridUnit) -> dict[int, list[float]]:
    """Where each household of `grid` is drawn: its own point, else its building's anchor.

    The due list carries no positions, and the map layers publish households only as counts per
    building; the page needs one point a household, for those who may see the household list
    (layers.view_household, the same permission that shows priority households' positions on
    the dispatcher's desk)."""
    rows = (
        Household.objects.filter(grid=grid)
        .annotate(position=Coalesce("location", "building__anchor"))
        .values_list("id", "position")
    )
    return {hid: [round(point.x, 7), round(point.y, 7)] for hid, point in rows}


@login_required
def grid(request: HttpRequest) -> HttpResponse:
    """网格走访 / the grid worker's page: their grid, its buildings and households by colour,
    the households by urgency, and a visit recorded from the phone."""
    user = request.user
    if not user.has_perm(visits.READ_PERMISSION):
        raise PermissionDenied
    visible = visits.grids_visible_to(user)
    if visible is not None and not visible:
        # Grid staff without a post: there is no grid of theirs to show.
        raise PermissionDenied
    chosen = _chosen_grid(request, visible)
    choices = _grid_choices(visible)
    # Acting also needs the grid among the visible ones: true of every grid the page may show.
    can_act = user.has_perm(visits.ACT_PERMISSION)
    fmap, groups = grid_map()
    grid_config = None
    if chosen is not None:
        grid_config = {
            "id": chosen.pk,
            "code": chosen.code,
            "name": chosen.name,
            "bbox": [round(v, 7) for v in chosen.geom.extent],
        }
    return render_map_page(
        request,
        "map/grid.html",
        fmap,
        groups,
        config={
            "api": _grid_api_paths(),
            "grid": grid_config,
            "canAct": can_act,
            "positions": household_positions(chosen) if chosen else {},
            "colors": [[value, str(label)] for value, label in Household.Color.choices],
            "statuses": visits.Status.values,
        },
        grid=chosen,
        choices=choices,
        several=sum(len(members) for _node, members in choices) > 1,
        can_act=can_act,
        colors=Household.Color.choices,
    )
