"""Admin of the grid and its staff, and the admin base of every layer assigned to the grid."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.gis.admin import GISModelAdmin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from gridmap import editing
from gridmap.assignment import assign_all
from gridmap.geometry import to_shapely
from gridmap.models import (
    AuditEntry,
    GridAssigned,
    GridUnit,
    StaffMember,
    UnitEdit,
    UnitVersion,
)
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

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        return type("GridUnitEditForm", (form,), {"clean": _clean_through_editor})

    def save_model(self, request: HttpRequest, obj: GridUnit, form, change: bool) -> None:
        before = (
            GridUnit.objects.filter(pk=obj.pk).values("level", "geom").first() if change else None
        )
        if change and "geom" in form.changed_data:
            # A new boundary of an existing unit is an edit like any other: neighbours and
            # the levels below follow, the layers are reassigned, the history records it.
            boundary, obj.geom = obj.geom, before["geom"]
            super().save_model(request, obj, form, change)
            editing.reshape(obj.pk, obj.version, to_shapely(boundary), user=request.user)
            obj.refresh_from_db()
            return
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


def _clean_through_editor(form) -> dict:
    """Check a changed boundary with a preview of the edit; a refusal is the field's error."""
    data = super(type(form), form).clean()
    unit = form.instance
    if unit.pk and "geom" in form.changed_data and data.get("geom") is not None:
        try:
            editing.reshape(unit.pk, unit.version, to_shapely(data["geom"]), preview=True)
        except editing.EditError as exc:
            form.add_error("geom", exc.detail)
    return data


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


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is written by the edit service and a trigger, never by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(UnitEdit)
class UnitEditAdmin(ReadOnlyAdmin):
    list_display = ("id", "operation", "username", "created_at", "note")
    list_filter = ("operation",)
    search_fields = ("username", "note")
    date_hierarchy = "created_at"


@admin.register(UnitVersion)
class UnitVersionAdmin(ReadOnlyAdmin, MapAdmin):
    list_display = ("code", "name", "version", "valid_from", "valid_to", "edit")
    list_filter = ("level",)
    search_fields = ("^code", "name")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The audit log: written by gridmap.audit only, never edited or deleted here."""

    list_display = ("at", "username", "action", "model", "count", "field_list", "via")
    list_filter = ("action", "model")
    search_fields = ("username", "via")
    date_hierarchy = "at"
    fields = (
        "at",
        "user",
        "username",
        "action",
        "model",
        "count",
        "object_ids",
        "fields",
        "via",
        "remote_addr",
        "request_id",
    )
    readonly_fields = fields

    @admin.display(description=_("字段"))
    def field_list(self, entry: AuditEntry) -> str:
        return ", ".join(entry.fields)
