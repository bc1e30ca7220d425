"""The roles (Django groups) and what each may do. Created or brought up to date after migrate."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

# Role → (app_label, codename) permissions. Every role may view the grid and the map layers.
_VIEW_ALL = [
    ("gridmap", "view_gridunit"),
    ("gridmap", "view_staffmember"),
    ("layers", "view_building"),
    ("layers", "view_camera"),
    ("layers", "view_facility"),
    ("layers", "view_road"),
    ("layers", "view_incident"),
    ("layers", "view_incidenttransition"),
]
ROLES: dict[str, list[tuple[str, str]]] = {
    # 规划人员: draws and redraws grid boundaries, keeps staff lists.
    "planner": [
        *_VIEW_ALL,
        ("layers", "view_household"),
        ("gridmap", "add_gridunit"),
        ("gridmap", "change_gridunit"),
        ("gridmap", "delete_gridunit"),
        ("gridmap", "add_staffmember"),
        ("gridmap", "change_staffmember"),
        ("gridmap", "delete_staffmember"),
        ("layers", "add_building"),
        ("layers", "change_building"),
        ("layers", "add_facility"),
        ("layers", "change_facility"),
        ("layers", "add_road"),
        ("layers", "change_road"),
        # The five-colour visit intervals of a district (layers.visits).
        ("layers", "view_colorpolicy"),
        ("layers", "add_colorpolicy"),
        ("layers", "change_colorpolicy"),
    ],
    # 调度员: takes reports, locates incidents, runs cases. change_incident is what makes a user a
    # dispatcher to the case workflow (layers.workflow): every action at every level.
    "dispatcher": [
        *_VIEW_ALL,
        ("layers", "view_household"),
        ("layers", "add_incident"),
        ("layers", "change_incident"),
        ("layers", "view_casedeadline"),
        ("layers", "add_casedeadline"),
        ("layers", "change_casedeadline"),
        ("layers", "delete_casedeadline"),
    ],
    # 网格员: visits households and reports incidents in their own grid. No change_incident: the
    # workflow lets a user act on the cases of the grid (or community) they are staff of.
    "grid_worker": [
        *_VIEW_ALL,
        ("layers", "view_household"),
        ("layers", "change_household"),
        ("layers", "add_incident"),
    ],
    # 查看者: reads maps and statistics, never personal data.
    "viewer": list(_VIEW_ALL),
}


def ensure_roles(**_kwargs) -> None:
    """Create the role groups and set their permissions exactly (idempotent)."""
    for role, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        condition = Q(pk__in=[])
        for app_label, codename in perms:
            condition |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.set(Permission.objects.filter(condition))
