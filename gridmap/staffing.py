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


# A grid more than this share away from its target is flagged (e.g. 250 ± 30% → 175–325).
WORKLOAD_TOLERANCE = 0.30


def workload_flag(households: int, target: int) -> str:
    """'under', 'ok' or 'over': how a grid's household count compares with its target."""
    if households < target * (1 - WORKLOAD_TOLERANCE):
        return "under"
    if households > target * (1 + WORKLOAD_TOLERANCE):
        return "over"
    return "ok"
