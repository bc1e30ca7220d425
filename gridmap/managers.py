"""Named domain queries on grid units."""

from __future__ import annotations

from django.contrib.gis.db import models
from django.contrib.gis.geos import Point


class GridUnitQuerySet(models.QuerySet):
    def grids(self) -> GridUnitQuerySet:
        return self.filter(level="grid")

    def covering(self, point: Point) -> GridUnitQuerySet:
        """Units whose area covers `point` (boundary included), lowest code first.

        Lowest code first is the tie-break for a point on a shared edge: see
        gridmap.assignment for the rule.
        """
        return self.filter(geom__covers=point).order_by("code")

    def grids_of(self, unit) -> GridUnitQuerySet:
        """The grids inside `unit`, whatever its level."""
        return self.grids().filter(code__startswith=unit.code)


class GridUnitManager(models.Manager.from_queryset(GridUnitQuerySet)):
    pass
