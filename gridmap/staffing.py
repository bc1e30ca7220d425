"""Staffing rules: the community staff standard (seed 000) and grid workload against its target."""

from __future__ import annotations


def required_community_staff(households: int) -> int:
    """Staff a community (网节) of `households` households gets by the Karamay standard.

    ≤ 1,000 households: 11. Above 1,000 and below 1,500: one more per full 100 above 1,000.
    From 1,500: 16, one more per full 150 above 1,500. From 2,000: 19, one more per full 200
    above 2,000. (1,500 → 16, 2,000 → 19.)
    """
    if households < 0:
        raise ValueError("households must not be negative")
    if households <= 1000:
        return 11
    if households < 1500:
        return 11 + (households - 1000) // 100
    if households < 2000:
        return 16 + (households - 1500) // 150
    return 19 + (households - 2000) // 200


# A grid within this share of its target is balanced (e.g. 250 ± 15 % → 213–287); outside it,
# it is flagged under or over. One rule for the planner's map, the unit summary, the workload
# dashboard and the rebalance proposals.
WORKLOAD_TOLERANCE = 0.15


def workload_band(target: int, tolerance: float = WORKLOAD_TOLERANCE) -> tuple[float, float]:
    """The household counts a grid of `target` may carry and still count as balanced."""
    return target * (1 - tolerance), target * (1 + tolerance)


def workload_flag(households: int, target: int, tolerance: float = WORKLOAD_TOLERANCE) -> str:
    """'under', 'ok' or 'over': how a grid's household count compares with its target."""
    low, high = workload_band(target, tolerance)
    if households < low:
        return "under"
    if households > high:
        return "over"
    return "ok"
