"""Admin of the map layers. Grid fields are read-only: the assignment service keeps them."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from gridmap.admin import GridAssignedAdmin, MapAdmin
from layers.models import Building, Camera, Facility, Household, Incident, Road

# Rows that lie in no grid are the ones to look at after a boundary edit.
IN_A_GRID = ("grid", admin.EmptyFieldListFilter)


@admin.register(Building)
class BuildingAdmin(GridAssignedAdmin):
    list_display = ("__str__", "road", "number", "kind", "floors", "units", "grid")
    list_filter = ("kind", IN_A_GRID)
    search_fields = ("name", "road", "number")
    list_select_related = ("grid",)
    readonly_fields = ("anchor",)


@admin.register(Household)
class HouseholdAdmin(GridAssignedAdmin):
    """Households; the personal fields only for users who may change households (网格员)."""

    list_display = (
        "id",
        "building",
        "unit_no",
        "floor",
        "room",
        "residents",
        "color",
        "head_name",
        "head_phone",
        "grid",
    )
    list_filter = ("color", IN_A_GRID)
    search_fields = ("building__road", "building__number", "building__name", "head_name")
    list_select_related = ("building", "grid")
    autocomplete_fields = ("building",)

    @staticmethod
    def may_see_private(request: HttpRequest) -> bool:
        return request.user.has_perm("layers.change_household")

    def _public(self, request: HttpRequest, names):
        if self.may_see_private(request):
            return tuple(names)
        return tuple(n for n in names if n not in Household.PRIVATE_FIELDS)

    def get_exclude(self, request: HttpRequest, obj: Household | None = None):
        excluded = super().get_exclude(request, obj) or ()
        if self.may_see_private(request):
            return excluded
        return (*excluded, *Household.PRIVATE_FIELDS)

    def get_list_display(self, request: HttpRequest):
        return self._public(request, super().get_list_display(request))

    def get_search_fields(self, request: HttpRequest):
        # Searching by a hidden field would still tell who lives where.
        return self._public(request, super().get_search_fields(request))

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # Nor may a URL filter (?head_name=…) query a field the user may not see.
        if lookup.split("__")[0] in Household.PRIVATE_FIELDS and not self.may_see_private(request):
            return False
        return super().lookup_allowed(lookup, value, request)


@admin.register(Camera)
class CameraAdmin(GridAssignedAdmin):
    list_display = ("code", "name", "status", "bearing", "fov", "range_m", "grid")
    list_filter = ("status", IN_A_GRID)
    search_fields = ("code", "name")
    list_select_related = ("grid",)


@admin.register(Facility)
class FacilityAdmin(GridAssignedAdmin):
    list_display = ("name", "kind", "address", "grid")
    list_filter = ("kind", IN_A_GRID)
    search_fields = ("name", "address")
    list_select_related = ("grid",)


@admin.register(Road)
class RoadAdmin(MapAdmin):
    list_display = ("__str__", "kind", "walkable")
    list_filter = ("kind", "walkable")
    search_fields = ("name",)


@admin.register(Incident)
class IncidentAdmin(GridAssignedAdmin):
    list_display = ("__str__", "category", "status", "reported_at", "grid", "reported_grid")
    list_filter = ("status", "category", IN_A_GRID)
    # "^" so that a network's or community's code finds every incident beneath it.
    search_fields = ("description", "^grid__code")
    list_select_related = ("grid", "reported_grid")
    date_hierarchy = "reported_at"
