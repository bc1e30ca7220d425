"""Admin of the map layers and of cases. Grid fields are read-only: the assignment service keeps
them; so are a case's status, level and timeline: the workflow keeps those."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from gridmap import audit
from gridmap.admin import GridAssignedAdmin, MapAdmin, ReadOnlyAdmin
from gridmap.models import StaffMember
from layers import workflow
from layers.exchange import catalogue
from layers.models import (
    Building,
    Camera,
    CaseDeadline,
    ColorChange,
    ColorPolicy,
    Facility,
    Household,
    Incident,
    IncidentTransition,
    LayerPublication,
    PlatformToken,
    Road,
    ServiceCircle,
    Visit,
)
from layers.services.deadlines import DEFAULT_HOURS
from layers.visits import DEFAULT_SCHEDULE, grids_visible_to

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
    """Households; grid staff see only the grids of their posts (layers.visits.grids_visible_to),
    the personal fields only users who may change households (网格员). Every page that shows
    personal fields, and every save and delete, is written to the audit log (gridmap.audit)."""

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

    def get_readonly_fields(self, request: HttpRequest, obj: Household | None = None):
        # A class change is logged with its reason (layers.visits.change_color, the colour API).
        readonly = super().get_readonly_fields(request, obj)
        return (*readonly, "color") if obj is not None else readonly

    def get_search_fields(self, request: HttpRequest):
        # Searching by a hidden field would still tell who lives where.
        return self._public(request, super().get_search_fields(request))

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # Nor may a URL filter (?head_name=…) query a field the user may not see.
        if lookup.split("__")[0] in Household.PRIVATE_FIELDS and not self.may_see_private(request):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_queryset(self, request: HttpRequest):
        # The row-level rule of the API: another grid's household is "not found" here too.
        queryset = super().get_queryset(request)
        visible = grids_visible_to(request.user)
        return queryset if visible is None else queryset.filter(grid__in=visible)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        shown = [n for n in self.get_list_display(request) if n in Household.PRIVATE_FIELDS]
        if changelist is not None and shown:
            ids = [household.pk for household in changelist.result_list]
            audit.log_read(request.user, Household, ids, shown, request)
        return response

    def change_view(self, request: HttpRequest, object_id: str, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        # 200: the form was shown (a successful save redirects; it is logged as a change).
        if response.status_code == 200 and self.may_see_private(request):
            audit.log_read(
                request.user, Household, [int(object_id)], Household.PRIVATE_FIELDS, request
            )
        return response

    def save_model(self, request: HttpRequest, obj: Household, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        action = audit.Action.CHANGE if change else audit.Action.CREATE
        audit.log_change(request.user, action, Household, [obj.pk], form.changed_data, request)

    def delete_model(self, request: HttpRequest, obj: Household) -> None:
        audit.log_change(request.user, audit.Action.DELETE, Household, [obj.pk], [], request)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        audit.log_change(request.user, audit.Action.DELETE, Household, ids, [], request)
        super().delete_queryset(request, queryset)


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


@admin.display(description=_("照片"))
def photo_link(entry: IncidentTransition) -> str:
    """The photo through the API's authenticated view; MEDIA_URL is not served."""
    if not entry.photo:
        return "-"
    url = reverse("incident-photo", args=[entry.incident_id, entry.pk])
    return format_html('<a href="{}" target="_blank">{}</a>', url, _("查看"))


class IncidentTransitionInline(admin.TabularInline):
    """The case's timeline, read-only: only the workflow writes it."""

    model = IncidentTransition
    fields = (
        "at",
        "action",
        "from_status",
        "to_status",
        "from_level",
        "to_level",
        "username",
        "note",
        photo_link,
        "data",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(GridAssignedAdmin):
    list_display = (
        "__str__",
        "category",
        "status",
        "level",
        "deadline",
        "reported_at",
        "grid",
        "reported_grid_code",
    )
    list_filter = ("status", "level", "category", IN_A_GRID)
    # "^" so that a network's or community's code finds every incident beneath it.
    search_fields = ("description", "^grid__code", "^reported_grid_code")
    list_select_related = ("grid", "reported_grid")
    date_hierarchy = "reported_at"
    # The workflow owns these: a change here would bypass its rules and its log.
    readonly_fields = (
        "status",
        "level",
        "deadline",
        "department",
        "rating",
        "closed_at",
        "updated_at",
        "reported_grid_code",
    )
    inlines = (IncidentTransitionInline,)

    def save_model(self, request: HttpRequest, obj: Incident, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
        else:
            workflow.open_case(obj, request.user)


@admin.register(IncidentTransition)
class IncidentTransitionAdmin(ReadOnlyAdmin):
    list_display = ("incident", "action", "from_status", "to_status", "to_level", "username", "at")
    list_filter = ("action", "to_status")
    search_fields = ("note", "username")
    list_select_related = ("incident",)
    date_hierarchy = "at"
    fields = (
        "incident",
        "action",
        "from_status",
        "to_status",
        "from_level",
        "to_level",
        "username",
        "at",
        "note",
        photo_link,
        "data",
    )
    readonly_fields = fields


@admin.register(CaseDeadline)
class CaseDeadlineAdmin(admin.ModelAdmin):
    """Handling time per category; a category without a row keeps the default in code."""

    list_display = ("category", "hours", "default_hours")
    list_editable = ("hours",)

    @admin.display(description=_("默认时限（小时）"))
    def default_hours(self, obj: CaseDeadline) -> int:
        return DEFAULT_HOURS[obj.category]


@admin.register(ServiceCircle)
class ServiceCircleAdmin(ReadOnlyAdmin, MapAdmin):
    """Computed by layers.coverage (build_service_circles, and on facility and road edits)."""

    list_display = ("facility", "minutes", "method", "speed_mps", "computed_at")
    list_filter = ("minutes", "method", "facility__kind")
    search_fields = ("facility__name",)
    list_select_related = ("facility",)


def _layer_choices() -> list[tuple[str, str]]:
    return [(name, f"{layer.title} ({name})") for name, layer in catalogue.LAYERS.items()]


class PlatformTokenForm(forms.ModelForm):
    layers = forms.MultipleChoiceField(
        label=_("可读图层"), choices=_layer_choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = PlatformToken
        fields = ["name", "layers", "requests_per_minute"]


@admin.register(PlatformToken)
class PlatformTokenAdmin(admin.ModelAdmin):
    """Read tokens for city platforms: scoped to layers, rate-limited, revocable (never deleted,
    so the record of who had access stays)."""

    form = PlatformTokenForm
    list_display = [
        "name",
        "layer_list",
        "requests_per_minute",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["key", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.display(description=_("可读图层"))
    def layer_list(self, token: PlatformToken) -> str:
        return ", ".join(token.layers)

    def save_model(self, request: HttpRequest, obj: PlatformToken, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description=_("吊销所选令牌"))
    def revoke(self, request: HttpRequest, queryset) -> None:
        queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class LayerPublicationForm(forms.ModelForm):
    layer = forms.ChoiceField(label=_("图层"), choices=_layer_choices)

    class Meta:
        model = LayerPublication
        fields = ["layer", "anonymous"]


@admin.register(LayerPublication)
class LayerPublicationAdmin(admin.ModelAdmin):
    """Which layers anyone may read without a login or token (none by default)."""

    form = LayerPublicationForm
    list_display = ["layer", "anonymous"]
    list_editable = ["anonymous"]


@admin.register(ColorPolicy)
class ColorPolicyAdmin(admin.ModelAdmin):
    """A district's visit schedule per colour; a colour without a row keeps the default in code
    (layers.visits.DEFAULT_SCHEDULE)."""

    list_display = ("network", "color", "period", "role", "default_period", "default_role")
    list_filter = ("color", "period")
    list_select_related = ("network",)

    @admin.display(description=_("默认周期"))
    def default_period(self, obj: ColorPolicy) -> str:
        return ColorPolicy.Period(DEFAULT_SCHEDULE[obj.color].period).label

    @admin.display(description=_("默认责任人"))
    def default_role(self, obj: ColorPolicy) -> str:
        return StaffMember.Role(DEFAULT_SCHEDULE[obj.color].role).label


@admin.display(description=_("照片"))
def visit_photo_link(visit: Visit) -> str:
    """The photo through the API's authenticated view; MEDIA_URL is not served."""
    if not visit.photo:
        return "-"
    url = reverse("visit-photo", args=[visit.household_id, visit.pk])
    return format_html('<a href="{}" target="_blank">{}</a>', url, _("查看"))


class _HouseholdLogAdmin(ReadOnlyAdmin):
    """Written by layers.visits only. What it records about a home (notes, photos, reasons) is
    personal data: shown only to users who may change households, as the household's own."""

    private_fields: tuple[str, ...] = ()

    def _public(self, request: HttpRequest, names) -> tuple:
        if HouseholdAdmin.may_see_private(request):
            return tuple(names)
        return tuple(n for n in names if n not in self.private_fields)

    def get_fields(self, request: HttpRequest, obj=None):
        return self._public(request, super().get_fields(request, obj))

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self._public(request, super().get_readonly_fields(request, obj))

    def get_search_fields(self, request: HttpRequest):
        return self._public(request, super().get_search_fields(request))


@admin.register(Visit)
class VisitAdmin(_HouseholdLogAdmin):
    list_display = ("household", "visited_at", "username", "staff_member", "created_at")
    search_fields = ("username", "note")
    list_select_related = ("household__building", "staff_member")
    date_hierarchy = "visited_at"
    fields = (
        "household",
        "visited_at",
        "username",
        "staff_member",
        "note",
        visit_photo_link,
        "created_at",
    )
    readonly_fields = fields
    private_fields = ("note", visit_photo_link)


@admin.register(ColorChange)
class ColorChangeAdmin(_HouseholdLogAdmin):
    list_display = ("household", "from_color", "to_color", "username", "at")
    list_filter = ("to_color", "from_color")
    search_fields = ("username", "reason")
    list_select_related = ("household__building",)
    date_hierarchy = "at"
    fields = ("household", "from_color", "to_color", "reason", "username", "at")
    readonly_fields = fields
    private_fields = ("reason",)
