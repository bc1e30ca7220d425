"""A clean little city for edit tests: one network, one segment, two nodes of two grids each.

39.002 +-------+-------+-------+-------+
       |   A   |   B   |   C   |   D   |     nodes: N1 = A + B, N2 = C + D
39.000 +-------+-------+-------+-------+
     98.000  98.002  98.004  98.006  98.008
"""

from __future__ import annotations

from gridmap.models import GridUnit
from layers.models import Building, Household
from tests.conftest import box, make_unit, multi

NET, SEG = "620200", "620200001"
N1, N2 = f"{SEG}001", f"{SEG}002"
A, B, C, D = f"{N1}001", f"{N1}002", f"{N2}001", f"{N2}002"
Y0, Y1 = 39.000, 39.002


def column(x0: float, x1: float):
    return multi(box(x0, Y0, x1, Y1))


def build_city() -> dict[str, GridUnit]:
    network = make_unit("network", NET, column(98.000, 98.008), name="嘉峪关市")
    segment = make_unit("segment", SEG, column(98.000, 98.008), network, name="钢城街道")
    n1 = make_unit("node", N1, column(98.000, 98.004), segment, name="一社区")
    n2 = make_unit("node", N2, column(98.004, 98.008), segment, name="二社区")
    units = {"net": network, "seg": segment, "n1": n1, "n2": n2}
    for key, code, x0, parent in (
        ("a", A, 98.000, n1),
        ("b", B, 98.002, n1),
        ("c", C, 98.004, n2),
        ("d", D, 98.006, n2),
    ):
        units[key] = make_unit(
            "grid", code, column(x0, x0 + 0.002), parent, name=f"网格{key.upper()}"
        )
    return units


def households_at(*points: tuple[float, float]) -> list[Household]:
    """One household in a small building (about 4 m across) at each point."""
    made = []
    for x, y in points:
        building = Building.objects.create(footprint=box(x - 2e-5, y - 2e-5, x + 2e-5, y + 2e-5))
        made.append(Household.objects.create(building=building, residents=2))
    return made
