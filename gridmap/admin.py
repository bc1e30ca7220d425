"""Admin of the grid and its staff, and the admin base of every layer assigned to the grid."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.gis.admin import GISModelAdmin
from django.http import HttpRequest

from gridmap.assignment import assign_all
from gridmap.models import GridAssigned, GridUnit, StaffMember
from gridmap.widgets import OfflineMapWidget

# Fields whose change can move a row from one grid to another (the code is the tie-break).
_ASSIGNMENT_FIELDS = {"geom", "code", "level"}


class MapAdmin(GISModelAdmin):
    """A GIS admin whose map loads nothing from the internet."""

    gis_widget = OfflineMapWidget


class StaffMemberInline(admin.TabularInline):
    model = StaffMember
    fields = ("role", "name", "phone", "user")
    autocomplete_fields = ("user",)
    extra = 0


@admin.register(GridUnit)
class GridUnitAdmin(MapAdmin):
    list_display = ("code", "name", "level", "parent", "version", "updated_at")
    list_display_links = ("code", "name")
    list_filter = ("level",)
    # "^" so that a unit's code also finds everything beneath it.
    search_fields = ("^code", "name")
    list_select_related = ("parent",)
    autocomplete_fields = ("parent",)
    fields = (
        "level",
        "parent",
        "code",
        "name",
        "target_households",
        "geom",
        "version",
        "created_at",
        "updated_at",
    )
    readonly_fields = ("version", "created_at", "updated_at")
    inlines = (StaffMemberInline,)

    def save_model(self, request: HttpRequest, obj: GridUnit, form, change: bool) -> None:
        before = (
            GridUnit.objects.filter(pk=obj.pk).values("level", "geom").first() if change else None
        )
        if change and "geom" in form.changed_data:
            obj.version += 1  # a new boundary is a new version (optimistic concurrency)
        super().save_model(request, obj, form, change)
        if not _ASSIGNMENT_FIELDS.intersection(form.changed_data):
            return
        # Layers point only at grids, so only a grid's edit (or a unit that was one) moves rows.
        touched = [obj.geom] if obj.level == GridUnit.Level.GRID else []
        if before and before["level"] == GridUnit.Level.GRID:
            touched.append(before["geom"])
        if touched:
            area = touched[0] if len(touched) == 1 else touched[0].union(touched[1])
            assign_all(area=area)


@admin.register(StaffMember)
class StaffMemberAdmin(admin.ModelAdmin):
    list_display = ("name", "role", "unit", "phone", "user")
    list_filter = ("role", "unit__level")
    search_fields = ("name", "phone", "unit__code", "unit__name")
    list_select_related = ("unit", "user")
    autocomplete_fields = ("unit", "user")


class GridAssignedAdmin(MapAdmin):
    """Admin base of a layer on the grid. Its grid fields are read-only: saving a row assigns
    it (GridAssigned.save), so a row added or moved here shows its grid at once."""

    def get_readonly_fields(self, request: HttpRequest, obj: GridAssigned | None = None):
        maintained = ["grid"]
        if self.model.grid_keep_first:
            maintained.append(self.model.grid_keep_first)
        return (*super().get_readonly_fields(request, obj), *maintained)
