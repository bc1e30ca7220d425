"""Grid unit codes after Beijing DB11/T 2157-2023: 6 + 3 + 3 + 3 digits, one block per level.

A network (网域) carries the 6-digit administrative division code (GB/T 2260), a segment (网段)
adds the 3-digit street code (GB/T 10114), a node (网节) a 3-digit community code and a grid
(网格) a 3-digit sequence numbered inside its community west→east, north→south.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

LEVELS: tuple[str, ...] = ("network", "segment", "node", "grid")
CODE_LENGTH: dict[str, int] = {"network": 6, "segment": 9, "node": 12, "grid": 15}
PARENT_LEVEL: dict[str, str | None] = {
    "network": None,
    "segment": "network",
    "node": "segment",
    "grid": "node",
}

_DIGITS = re.compile(r"^[0-9]+$")


class CodeError(ValueError):
    """A unit code that breaks the DB11/T 2157 rules; the message is bilingual."""


def level_of_code(code: str) -> str:
    """The level a code of this length belongs to."""
    for level, length in CODE_LENGTH.items():
        if len(code) == length:
            return level
    raise CodeError(
        f"编码 '{code}' 长度应为 6、9、12 或 15 位 / code '{code}' must have 6, 9, 12 or 15 digits"
    )


def validate_code(code: str, level: str, parent_code: str | None) -> None:
    """Raise CodeError unless `code` is a well-formed code of `level` under `parent_code`."""
    if level not in CODE_LENGTH:
        raise CodeError(f"未知层级 '{level}' / unknown level '{level}'")
    if not code or not _DIGITS.match(code):
        raise CodeError(f"编码 '{code}' 只能由数字组成 / code '{code}' must consist of digits only")
    length = CODE_LENGTH[level]
    if len(code) != length:
        raise CodeError(
            f"{level} 编码 '{code}' 应为 {length} 位 / a {level} code must have {length} digits, "
            f"'{code}' has {len(code)}"
        )
    if code[-3:] == "000" and level != "network":
        raise CodeError(
            f"编码 '{code}' 的本级序号不能为 000 / the last block of code '{code}' must not be 000"
        )
    if level == "network":
        if parent_code:
            raise CodeError("网域没有上级 / a network has no parent")
        return
    if not parent_code:
        raise CodeError(f"{level} 必须有上级 / a {level} needs a parent")
    if len(parent_code) != CODE_LENGTH[PARENT_LEVEL[level]]:
        raise CodeError(
            f"上级编码 '{parent_code}' 的层级不对 / parent code '{parent_code}' is not a "
            f"{PARENT_LEVEL[level]} code"
        )
    if not code.startswith(parent_code):
        raise CodeError(
            f"编码 '{code}' 必须以上级编码 '{parent_code}' 开头 / code '{code}' must start with its "
            f"parent's code '{parent_code}'"
        )


def child_code(parent_code: str, sequence: int) -> str:
    """The code of the `sequence`-th child (1-based) of the unit coded `parent_code`."""
    if not 1 <= sequence <= 999:
        raise CodeError(f"序号 {sequence} 超出 1–999 / sequence {sequence} is outside 1–999")
    return f"{parent_code}{sequence:03d}"


def reading_order(centroids: Sequence[tuple[float, float]], row_height_m: float) -> list[int]:
    """Indices of `centroids` (lon, lat) in the numbering order west→east, north→south.

    Grids are numbered row by row like text on a page. Rows are bands `row_height_m` high,
    counted from the northernmost centroid, so a grid a few metres lower than its western
    neighbour still lands in the same row.
    """
    if not centroids:
        return []
    top = max(lat for _, lat in centroids)
    metres_per_degree_lat = 111_320.0

    def key(i: int) -> tuple[int, float]:
        lon, lat = centroids[i]
        row = math.floor((top - lat) * metres_per_degree_lat / row_height_m + 0.5)
        return row, lon

    return sorted(range(len(centroids)), key=key)
