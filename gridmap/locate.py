"""Locate: the full grid chain (网域 > 网段 > 网节 > 网格) and the staff for a point."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.gis.geos import Point
from django.db.models import Prefetch
from django.db.models.functions import Length

from gridmap.models import GridUnit, StaffMember

CHAIN = ("grid", "node", "segment", "network")

OUTSIDE = "该点不在任何网域内 / the point lies outside every network"


@dataclass
class Location:
    """The units covering a point, deepest first filled; `reason` says why a level is empty."""

    units: dict[str, GridUnit | None] = field(default_factory=lambda: dict.fromkeys(CHAIN))
    reason: str | None = None

    @property
    def grid(self) -> GridUnit | None:
        return self.units["grid"]

    @property
    def staff(self) -> list[StaffMember]:
        return list(self.grid.staff.all()) if self.grid else []


def _chain(unit: GridUnit) -> dict[str, GridUnit | None]:
    units: dict[str, GridUnit | None] = dict.fromkeys(CHAIN)
    current: GridUnit | None = unit
    while current is not None:
        units[current.level] = current
        current = current.parent
    return units


def locate(point: Point) -> Location:
    """The grid covering `point` (lowest code on a shared edge) and its ancestors.

    A point in no grid but inside a node, segment or network (a coverage gap) gets the deepest
    unit that covers it, with a reason.
    """
    grid = (
        GridUnit.objects.grids()
        .covering(point)
        .select_related("parent__parent__parent")
        .prefetch_related(Prefetch("staff", queryset=StaffMember.objects.order_by("role", "name")))
        .first()
    )
    if grid is not None:
        return Location(units=_chain(grid))
    # Deepest level first: the longest code.
    deepest = (
        GridUnit.objects.exclude(level=GridUnit.Level.GRID)
        .covering(point)
        .select_related("parent__parent")
        .annotate(level_depth=Length("code"))
        .order_by("-level_depth", "code")
        .first()
    )
    if deepest is None:
        return Location(reason=OUTSIDE)
    return Location(
        units=_chain(deepest),
        reason=(
            f"该点位于「{deepest.name}」内，但不在任何网格内（覆盖空隙） / the point lies in "
            f"{deepest.code} but in no grid (a coverage gap)"
        ),
    )
