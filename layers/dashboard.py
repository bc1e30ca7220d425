"""The workload dashboard at /map/dashboard/?unit=<node or segment id> (docs/workload.md): a
choropleth of the unit's grids (of its nodes, for a segment) by load against the target, bar
charts of households, visits owed and open incidents, the staffing table, and for planners the
rebalance proposal drawn on the map.

A folium map like the other pages (gridmap.pages): every asset served by the app; the page script
loads the figures from /api/workload/.
"""

from __future__ import annotations

import folium
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from gridmap.models import GridUnit, StaffMember
from gridmap.pages import offline_map, path_with_id, render_map_page
from layers import workload
from layers.models import Household

Level = GridUnit.Level


def dashboard_map() -> tuple[folium.Map, dict[str, str]]:
    """The dashboard's folium map and the JavaScript names of its layer groups."""
    overlays = [
        ("load", _("户数负荷"), True),
        ("rebalance", _("再平衡建议"), True),
    ]
    return offline_map(overlays, collapsed=True)


def _api_paths() -> dict[str, str]:
    """API paths for dashboard.js; `{id}` stands for a unit id."""
    return {
        "grids": reverse("workload-grids"),
        "nodes": reverse("workload-nodes"),
        "rebalance": reverse("workload-rebalance"),
        "apply": reverse("workload-rebalance-apply"),
        "units": reverse("unit-list"),
        "unit": path_with_id("unit-detail"),
    }


def _chosen(request: HttpRequest) -> GridUnit:
    """The node or segment of ?unit= (a grid stands for its node); without one, the unit of the
    user's own staff post (grid staff open their community), else the first node."""
    raw = request.GET.get("unit", "")
    units = GridUnit.objects.select_related("parent")
    if not raw:
        post = (
            StaffMember.objects.filter(user=request.user, unit__level__in=[Level.GRID, Level.NODE])
            .select_related("unit__parent")
            .order_by("unit__code")
            .first()
        )
        unit = post.unit if post else units.filter(level=Level.NODE).order_by("code").first()
    elif raw.isascii() and raw.isdigit():
        unit = units.filter(pk=int(raw)).first()
    else:
        unit = None
    if unit is not None and unit.level == Level.GRID:
        unit = unit.parent
    if unit is None or unit.level not in (Level.NODE, Level.SEGMENT):
        raise Http404(_("看板按网节或网段显示 / the dashboard shows a node or a segment"))
    return unit


def _choices() -> list[tuple[GridUnit, list[GridUnit]]]:
    """Every segment with its nodes, for the unit picker."""
    units = GridUnit.objects.filter(level__in=[Level.SEGMENT, Level.NODE]).only(
        "id", "code", "name", "level", "parent_id"
    )
    segments: dict[int, tuple[GridUnit, list[GridUnit]]] = {}
    for unit in units.order_by("code"):
        if unit.level == Level.SEGMENT:
            segments[unit.id] = (unit, [])
        elif unit.parent_id in segments:
            segments[unit.parent_id][1].append(unit)
    return list(segments.values())


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """工作量看板 / workload and staffing of a node or segment, and the rebalance proposal."""
    user = request.user
    if not user.has_perm("gridmap.view_gridunit"):
        raise PermissionDenied
    unit = _chosen(request)
    can_plan = user.has_perm("gridmap.change_gridunit")
    fmap, groups = dashboard_map()
    tolerance = workload.TOLERANCE
    return render_map_page(
        request,
        "map/dashboard.html",
        fmap,
        groups,
        config={
            "api": _api_paths(),
            "plan": reverse("map-plan"),
            "page": reverse("map-dashboard"),
            "unit": {
                "id": unit.id,
                "code": unit.code,
                "name": unit.name,
                "level": unit.level,
                "parent": unit.parent_id,
            },
            "canPlan": can_plan,
            "tolerance": tolerance,
            "colors": [[value, str(label)] for value, label in Household.Color.choices],
            "roles": [[value, str(label)] for value, label in StaffMember.Role.choices],
            "standardRoles": [str(role) for role in workload.STANDARD_ROLES],
        },
        unit=unit,
        choices=_choices(),
        can_plan=can_plan and unit.level == Level.NODE,
        tolerance_percent=round(tolerance * 100),
        target=unit.effective_target,
    )
