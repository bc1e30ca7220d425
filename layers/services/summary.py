"""Unit summary: households, residents, five colors and attention groups, grid workload, staffing."""

from __future__ import annotations

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from gridmap.models import GridUnit
from gridmap.staffing import required_community_staff, workload_flag
from layers.models import Household

CATEGORIES = ("aged_60_plus", "disabled", "floating", "retired", "unemployed", "party_members")


def unit_summary(unit: GridUnit) -> dict:
    """Totals over the households in `unit`'s grids, and each grid against its target."""
    households = Household.objects.filter(grid__code__startswith=unit.code)
    totals = households.aggregate(
        households=Count("id"),
        residents=Coalesce(Sum("residents"), 0),
        **{name: Coalesce(Sum(name), 0) for name in CATEGORIES},
        **{
            f"color_{color}": Count("id", filter=Q(color=color)) for color in Household.Color.values
        },
    )
    grids = (
        GridUnit.objects.grids_of(unit)
        .select_related("parent__parent__parent")
        .annotate(
            n_households=Count("households"),
            n_residents=Coalesce(Sum("households__residents"), 0),
        )
        .order_by("code")
    )
    grid_rows = []
    for grid in grids:
        target = grid.effective_target
        grid_rows.append(
            {
                "id": grid.id,
                "code": grid.code,
                "name": grid.name,
                "households": grid.n_households,
                "residents": grid.n_residents,
                "target": target,
                "ratio": round(grid.n_households / target, 3),
                "flag": workload_flag(grid.n_households, target),
            }
        )
    summary = {
        "unit": {"id": unit.id, "code": unit.code, "name": unit.name, "level": unit.level},
        "households": totals["households"],
        "residents": totals["residents"],
        "households_by_color": {c: totals[f"color_{c}"] for c in Household.Color.values},
        "attention": {name: totals[name] for name in CATEGORIES},
        "grids": grid_rows,
        "grids_flagged": sum(1 for row in grid_rows if row["flag"] != "ok"),
    }
    if unit.level == GridUnit.Level.NODE:
        # The community staff standard applies to a community (网节) as a whole.
        summary["required_staff"] = required_community_staff(totals["households"])
    return summary
