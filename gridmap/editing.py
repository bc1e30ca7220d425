"""Topological edits of the four-level grid: reshape, split, merge, transfer, restore, undo.

An edit is first computed as the new state of every unit it touches (geometry, code, parent):
area a unit gains is taken from its siblings, area it gives up goes to the sibling it borders
most, and the children of every changed unit follow their parent's new edge. The states are
then checked — valid, inside the parent, no sibling overlap, the parent still covered — and
applied in one transaction together with the incremental reassignment of every layer and the
history record. A preview runs exactly the same transaction and rolls it back, so what it
reports is what a commit does.

Concurrency: the units are locked (parent first) and every edit names the version it was based
on; a unit whose version moved on answers 409, never a lost update.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import shapely
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import split as split_by_line

from gridmap import codes, staffing
from gridmap.assignment import assign_all, assignable_models, layer_name
from gridmap.geometry import (
    GeometryError,
    area_m2,
    check_valid,
    point_where,
    polygonal,
    to_geojson,
    to_geos,
    to_shapely,
)
from gridmap.models import GridUnit, StaffMember, UnitEdit, UnitVersion
from gridmap.topology import DEFAULT_TOLERANCE_M2

Operation = UnitEdit.Operation
LEVEL_ORDER = {level: i for i, level in enumerate(codes.LEVELS)}

# Overlaps and gaps up to this many m² are floating-point noise, not planning errors.
TOLERANCE_M2 = DEFAULT_TOLERANCE_M2
# Parts of an overlay result this small are dropped; they are far below the tolerance.
SLIVER_M2 = TOLERANCE_M2 / 10
# Overlays snap-round to this grid (degrees, ≈ 0.1 mm): coordinates that went through a map
# projection and back (39.809999999999995) meet again, and no hair-thin spike survives.
GRID_DEGREES = 1e-9
# Vertices drawn within this many degrees (≈ 10 cm) of an existing vertex or edge are snapped
# onto it: a map page rounds coordinates, and a boundary must meet its neighbour exactly.
SNAP_DEGREES = 1e-6
# Two polygons "share an edge" when this much boundary (in degrees, ≈ 1 m) lies within
# TOUCH_DEGREES of the other; touching at a point is not sharing.
TOUCH_DEGREES = 1e-8
MIN_SHARED_DEGREES = 1e-5
# A child of a unit being split must lie on one side of the line; it may cross by this share.
SPLIT_CHILD_SLACK = 0.05


class EditError(Exception):
    """An edit refused: a code, a bilingual detail, where it is, and the HTTP status."""

    def __init__(self, code: str, detail: str, where: Any = None, status: int = 422):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.where = where
        self.status = status


@dataclass
class Change:
    """A unit as the edit leaves it. `key` is the unit id, or negative for a unit it creates."""

    key: int
    level: str
    code: str
    name: str
    parent_key: int | None
    geom: BaseGeometry | None  # None: the edit deletes the unit
    target_households: int | None
    before: GridUnit | None  # None: the edit creates the unit


@dataclass
class EditResult:
    """What an edit does (or, previewed, would do)."""

    operation: str
    preview: bool
    edit: UnitEdit | None
    units: list[dict]
    versions: dict[str, int]
    reassignment: dict[str, dict]
    load: list[dict]
    staff_moved: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "preview": self.preview,
            "edit": None if self.edit is None else {"id": self.edit.pk},
            "units": self.units,
            "versions": self.versions,
            "reassignment": self.reassignment,
            "load": self.load,
            "staff_moved": self.staff_moved,
        }


class Plan:
    """The units an edit has locked and the states it proposes for them."""

    def __init__(self) -> None:
        self.units: dict[int, GridUnit] = {}
        self.old: dict[int, BaseGeometry] = {}
        self.changes: dict[int, Change] = {}
        self.staff_moves: list[tuple[int, int]] = []  # (from unit key, to unit key)
        self._children_loaded: set[int] = set()
        self._next_key = -1
        self._sequences: dict[str, int] = {}

    # Loading and locking -------------------------------------------------------------------

    def _take(self, units: Iterable[GridUnit]) -> list[GridUnit]:
        taken = []
        for unit in units:
            if unit.pk not in self.units:
                self.units[unit.pk] = unit
                self.old[unit.pk] = to_shapely(unit.geom)
            taken.append(self.units[unit.pk])
        return taken

    def lock(self, unit_id: int) -> GridUnit:
        """Lock a unit's parent (which serialises edits among siblings), its siblings and it."""
        row = GridUnit.objects.filter(pk=unit_id).values("parent_id").first()
        if row is None:
            raise EditError(
                "not_found", f"单元 {unit_id} 不存在 / unit {unit_id} does not exist", None, 404
            )
        if row["parent_id"] is not None:
            self._take(GridUnit.objects.select_for_update().filter(pk=row["parent_id"]))
            self.children(row["parent_id"])
        else:
            self._take(
                GridUnit.objects.select_for_update().filter(parent__isnull=True).order_by("pk")
            )
        if unit_id not in self.units:  # moved under another parent meanwhile
            self._take(GridUnit.objects.select_for_update().filter(pk=unit_id))
        return self.units[unit_id]

    def children(self, key: int) -> list[int]:
        """Keys of the units under `key` once the edit is applied (locking existing ones)."""
        if key > 0 and key not in self._children_loaded:
            self._take(GridUnit.objects.select_for_update().filter(parent_id=key).order_by("pk"))
            self._children_loaded.add(key)
        return sorted(k for k in self._all_keys() if self.parent_key(k) == key and self.exists(k))

    def _all_keys(self) -> set[int]:
        return set(self.units) | set(self.changes)

    def siblings(self, key: int) -> list[int]:
        parent = self.parent_key(key)
        if parent is None:
            return sorted(
                k
                for k in self._all_keys()
                if k != key and self.parent_key(k) is None and self.exists(k)
            )
        return [k for k in self.children(parent) if k != key]

    def expect(self, key: int, version: int | None) -> None:
        """409 unless the unit is still at the version the edit was based on."""
        unit = self.units[key]
        if version is not None and unit.version != version:
            raise EditError(
                "stale_version",
                f"单元 {unit.code} 已被他人修改（当前版本 {unit.version}，提交所基于的版本 "
                f"{version}），请刷新后重做 / unit {unit.code} was changed meanwhile (current "
                f"version {unit.version}, the edit was based on {version}); reload and redo it",
                {"unit": unit.code, "id": unit.pk, "version": unit.version},
                409,
            )

    # Reading the proposed state ------------------------------------------------------------

    def exists(self, key: int) -> bool:
        change = self.changes.get(key)
        return change is None or change.geom is not None

    def geom(self, key: int) -> BaseGeometry:
        change = self.changes.get(key)
        return change.geom if change is not None else self.old[key]

    def parent_key(self, key: int) -> int | None:
        change = self.changes.get(key)
        return change.parent_key if change is not None else self.units[key].parent_id

    def code(self, key: int) -> str:
        change = self.changes.get(key)
        return change.code if change is not None else self.units[key].code

    def level(self, key: int) -> str:
        change = self.changes.get(key)
        return change.level if change is not None else self.units[key].level

    # Proposing -------------------------------------------------------------------------------

    def _change(self, key: int) -> Change:
        if key not in self.changes:
            unit = self.units[key]
            self.changes[key] = Change(
                key=key,
                level=unit.level,
                code=unit.code,
                name=unit.name,
                parent_key=unit.parent_id,
                geom=self.old[key],
                target_households=unit.target_households,
                before=unit,
            )
        return self.changes[key]

    def set_geom(self, key: int, geom: BaseGeometry | None) -> None:
        self._change(key).geom = geom

    def move(self, key: int, parent_key: int, code: str) -> None:
        """Put a unit under another parent with a new code; its descendants are recoded."""
        old_code = self.code(key)
        change = self._change(key)
        change.parent_key, change.code = parent_key, code
        for child in self.children(key):
            self.move(child, key, code + self.code(child)[len(old_code) :])

    def create(self, level: str, code: str, name: str, parent_key: int, geom, target) -> int:
        key = self._next_key
        self._next_key -= 1
        self.changes[key] = Change(key, level, code, name, parent_key, geom, target, None)
        return key

    def next_code(self, parent_key: int) -> str:
        """The next unused code under a parent: codes are stable, so a code once used (even by
        a unit merged away since) is never given to another area."""
        parent_code = self.code(parent_key)
        if parent_code not in self._sequences:
            length = len(parent_code) + 3
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT max(right(code, 3)::int) FROM {UnitVersion._meta.db_table} "
                    "WHERE code LIKE %s AND length(code) = %s",
                    [f"{parent_code}%", length],
                )
                used = cursor.fetchone()[0] or 0
            current = [int(self.code(k)[-3:]) for k in self.children(parent_key)]
            self._sequences[parent_code] = max([used, *current])
        self._sequences[parent_code] += 1
        try:
            return codes.child_code(parent_code, self._sequences[parent_code])
        except codes.CodeError as exc:
            raise EditError("codes_exhausted", str(exc), {"parent": parent_code}) from None


# Geometry helpers ----------------------------------------------------------------------------


def _difference(a: BaseGeometry, b: BaseGeometry) -> BaseGeometry:
    return shapely.difference(a, b, grid_size=GRID_DEGREES)


def _intersection(a: BaseGeometry, b: BaseGeometry) -> BaseGeometry:
    return shapely.intersection(a, b, grid_size=GRID_DEGREES)


def _union(a: BaseGeometry, b: BaseGeometry) -> BaseGeometry:
    return shapely.union(a, b, grid_size=GRID_DEGREES)


def _clean(geom: BaseGeometry) -> MultiPolygon:
    return polygonal(geom, SLIVER_M2)


def _shared_length(a: BaseGeometry, b: BaseGeometry) -> float:
    """How much of `a`'s boundary runs along `b` (degrees; only compared, never reported)."""
    return a.boundary.intersection(b.buffer(TOUCH_DEGREES)).length


def _best_neighbour(
    part: BaseGeometry, candidates: Iterable[tuple[int, BaseGeometry]]
) -> int | None:
    best, best_len = None, MIN_SHARED_DEGREES
    for key, geom in candidates:
        length = _shared_length(part, geom)
        if length > best_len:
            best, best_len = key, length
    return best


def _snap(geom: BaseGeometry, references: Iterable[BaseGeometry]) -> BaseGeometry:
    reference = shapely.union_all([r.boundary for r in references])
    snapped = shapely.snap(geom, reference, SNAP_DEGREES)
    return snapped if snapped.is_valid else geom


def _order(keys_geoms: list[tuple[Any, BaseGeometry]]) -> list[Any]:
    points = [g.representative_point() for _, g in keys_geoms]
    order = codes.reading_order([(p.x, p.y) for p in points], row_height_m=50)
    return [keys_geoms[i][0] for i in order]


# Operations ----------------------------------------------------------------------------------


def _reshape(plan: Plan, key: int, new: BaseGeometry) -> None:
    """Give unit `key` the boundary `new`: what it gains is taken from its siblings, what it
    gives up goes to the sibling it borders most; the children of every changed unit follow."""
    parent = plan.parent_key(key)
    siblings = plan.siblings(key)
    check_valid(new)
    new = _snap(new, [plan.geom(key), *(plan.geom(s) for s in siblings)])
    new = shapely.set_precision(new, GRID_DEGREES)
    if parent is not None:
        outside = _difference(new, plan.geom(parent))
        if area_m2(outside) > TOLERANCE_M2:
            raise EditError(
                "outside_parent",
                f"新边界超出上级单元 {plan.code(parent)} 的范围 {area_m2(outside):.0f} 平方米 / the "
                f"new boundary reaches {area_m2(outside):.0f} m² outside the parent "
                f"{plan.code(parent)}",
                point_where(outside, area_m2=round(area_m2(outside), 1), unit=plan.code(parent)),
            )
        new = _intersection(new, plan.geom(parent))
    new = _clean(new)
    old = plan.geom(key)
    gained, lost = _difference(new, old), _difference(old, new)
    changed = {key}
    if area_m2(gained) > SLIVER_M2:
        for s in siblings:
            if plan.geom(s).relate_pattern(gained, "2********"):
                plan.set_geom(s, _clean(_difference(plan.geom(s), gained)))
                changed.add(s)
    plan.set_geom(key, new)
    for part in _clean(lost).geoms:
        receiver = _best_neighbour(part, ((s, plan.geom(s)) for s in siblings))
        if receiver is None:
            continue  # leaves a gap in the parent: validation names it
        plan.set_geom(receiver, _clean(_union(plan.geom(receiver), part)))
        changed.add(receiver)
    for k in sorted(changed):
        _follow(plan, k)


def _follow(plan: Plan, key: int) -> None:
    """The children of a changed unit follow its new boundary, recursively: what the unit lost
    its children lose; what it gained goes to the child that borders it most."""
    if key < 0 or plan.level(key) == "grid":
        return
    old, new = plan.old[key], plan.geom(key)
    if old.equals(new):
        return
    kids = plan.children(key)
    lost, gained = _difference(old, new), _clean(_difference(new, old))
    changed = set()
    for k in kids:
        if plan.geom(k).intersects(lost):
            rest = _clean(_difference(plan.geom(k), lost))
            if area_m2(rest) <= TOLERANCE_M2:
                raise EditError(
                    "child_emptied",
                    f"此修改会让下级单元 {plan.code(k)} 失去全部范围；请先合并或划转它 / the edit "
                    f"would leave the child unit {plan.code(k)} with no area; merge or transfer "
                    "it first",
                    point_where(plan.old[k], unit=plan.code(k)),
                )
            plan.set_geom(k, rest)
            changed.add(k)
    for part in gained.geoms:
        receiver = _best_neighbour(part, ((k, plan.geom(k)) for k in kids))
        if receiver is None:
            raise EditError(
                "child_cut",
                f"{plan.code(key)} 新增的区域不与其任何下级单元相邻，下级无法随之调整 / the area "
                f"{plan.code(key)} gains borders none of its children, so they cannot follow",
                point_where(part, area_m2=round(area_m2(part), 1), unit=plan.code(key)),
            )
        plan.set_geom(receiver, _clean(_union(plan.geom(receiver), part)))
        changed.add(receiver)
    for k in sorted(changed):
        _follow(plan, k)


def _split(plan: Plan, key: int, line: BaseGeometry, name: str | None) -> None:
    unit_geom = plan.geom(key)
    pieces = list(_clean(shapely.set_precision(split_by_line(unit_geom, line), GRID_DEGREES)).geoms)
    if len(pieces) != 2:
        raise EditError(
            "line_does_not_split",
            f"分割线须完整穿过 {plan.code(key)}，把它分成两块（现在得到 {len(pieces)} 块） / the line "
            f"must cross {plan.code(key)} completely and cut it into two parts (it gives "
            f"{len(pieces)})",
            point_where(line, unit=plan.code(key)),
        )
    kids = plan.children(key) if plan.level(key) != "grid" else []
    sides: list[list[int]] = [[], []]
    if kids:
        # Above the grid level the pieces are the unions of the children on each side, so the
        # split follows the children's edges exactly and no child is cut.
        for k in kids:
            shares = [area_m2(_intersection(plan.geom(k), p)) for p in pieces]
            side = 0 if shares[0] >= shares[1] else 1
            if shares[1 - side] > SPLIT_CHILD_SLACK * sum(shares):
                raise EditError(
                    "child_cut",
                    f"分割线穿过了下级单元 {plan.code(k)}；请沿下级边界划线，或先拆分它 / the line "
                    f"cuts the child unit {plan.code(k)}; draw along the children's edges or "
                    "split it first",
                    point_where(plan.geom(k), unit=plan.code(k)),
                )
            sides[side].append(k)
        if not sides[0] or not sides[1]:
            raise EditError(
                "line_does_not_split",
                f"分割线两侧都须有下级单元 / both sides of the line must hold children of "
                f"{plan.code(key)}",
                point_where(line, unit=plan.code(key)),
            )
        pieces = [
            _clean(shapely.union_all([plan.geom(k) for k in side], grid_size=GRID_DEGREES))
            for side in sides
        ]
    first, second = _order([(0, pieces[0]), (1, pieces[1])])
    parent = plan.parent_key(key)
    if parent is None:
        raise EditError(
            "not_allowed",
            "网域不能拆分 / a network (district) cannot be split",
            {"unit": plan.code(key)},
        )
    unit = plan.units[key]
    plan.set_geom(key, pieces[first])
    new_key = plan.create(
        unit.level,
        plan.next_code(parent),
        name or f"{unit.name}（拆分）",
        parent,
        pieces[second],
        unit.target_households,
    )
    for k in sides[second] if kids else []:
        plan.move(k, new_key, plan.code(new_key) + plan.code(k)[-3:])


def _merge(plan: Plan, key: int, other: int) -> None:
    if plan.parent_key(key) != plan.parent_key(other) or plan.level(key) != plan.level(other):
        raise EditError(
            "not_siblings",
            f"只能合并同一上级下的同级单元（{plan.code(key)}、{plan.code(other)}） / only units of "
            f"the same level under the same parent can be merged ({plan.code(key)}, "
            f"{plan.code(other)})",
            {"units": [plan.code(key), plan.code(other)]},
        )
    if _shared_length(plan.geom(other), plan.geom(key)) <= MIN_SHARED_DEGREES:
        raise EditError(
            "not_adjacent",
            f"{plan.code(key)} 与 {plan.code(other)} 不相邻，不能合并 / {plan.code(key)} and "
            f"{plan.code(other)} do not share an edge and cannot be merged",
            point_where(plan.geom(other), units=[plan.code(key), plan.code(other)]),
        )
    plan.set_geom(key, _clean(_union(plan.geom(key), plan.geom(other))))
    kids = plan.children(other)
    for k in _order([(k, plan.geom(k)) for k in kids]):
        plan.move(k, key, plan.next_code(key))
    plan.set_geom(other, None)
    plan.staff_moves.append((other, key))


def _transfer(plan: Plan, key: int, area: BaseGeometry) -> None:
    parent = plan.parent_key(key)
    if parent is not None:
        area = _intersection(area, plan.geom(parent))
    take = _clean(_difference(area, plan.geom(key)))
    if take.is_empty:
        raise EditError(
            "nothing_to_transfer",
            f"所画区域内没有可划给 {plan.code(key)} 的范围 / the drawn area holds nothing to hand "
            f"to {plan.code(key)}",
            point_where(area, unit=plan.code(key)),
        )
    for part in take.geoms:
        if _shared_length(part, plan.geom(key)) <= MIN_SHARED_DEGREES:
            raise EditError(
                "not_adjacent",
                f"划转的区域须与 {plan.code(key)} 相邻 / the area handed over must border "
                f"{plan.code(key)}",
                point_where(part, area_m2=round(area_m2(part), 1), unit=plan.code(key)),
            )
    _reshape(plan, key, _union(plan.geom(key), take))


# Validation ----------------------------------------------------------------------------------


def _validate(plan: Plan) -> None:
    """Every group of siblings the edit touched must still tile its parent."""
    parents: set[int | None] = set()
    for change in plan.changes.values():
        parents.add(change.parent_key)
        if change.before is not None:
            parents.add(change.before.parent_id)
    for parent in sorted(parents, key=lambda p: (p is not None, p or 0)):
        if parent is not None and not plan.exists(parent):
            continue
        kids = (
            plan.children(parent)
            if parent is not None
            else sorted(
                k for k in plan._all_keys() if plan.parent_key(k) is None and plan.exists(k)
            )
        )
        touched = [k for k in kids if k in plan.changes]
        if not touched:
            continue
        for k in touched:
            geom = plan.geom(k)
            check_valid(geom, plan.code(k))
            if area_m2(geom) <= TOLERANCE_M2:
                raise EditError(
                    "unit_emptied",
                    f"此修改会让 {plan.code(k)} 失去全部范围；请改用合并 / the edit would leave "
                    f"{plan.code(k)} with no area; merge it instead",
                    point_where(plan.old.get(k, geom), unit=plan.code(k)),
                )
        for k in touched:
            for other in kids:
                if other == k or (other in plan.changes and other < k):
                    continue
                if not plan.geom(k).relate_pattern(plan.geom(other), "2********"):
                    continue
                overlap = _intersection(plan.geom(k), plan.geom(other))
                if k in plan.old and other in plan.old:  # an overlap there was already
                    overlap = _difference(overlap, _intersection(plan.old[k], plan.old[other]))
                if area_m2(overlap) > TOLERANCE_M2:
                    codes_ = [plan.code(k), plan.code(other)]
                    raise EditError(
                        "overlap",
                        f"{codes_[0]} 与 {codes_[1]} 将重叠 {area_m2(overlap):.0f} 平方米 / "
                        f"{codes_[0]} and {codes_[1]} would overlap by {area_m2(overlap):.0f} m²",
                        point_where(
                            _clean(overlap), area_m2=round(area_m2(overlap), 1), units=codes_
                        ),
                    )
        if parent is None:
            continue
        parent_geom = plan.geom(parent)
        for k in touched:
            outside = _difference(plan.geom(k), parent_geom)
            if k in plan.old and parent in plan.old:
                outside = _difference(outside, _difference(plan.old[k], plan.old[parent]))
            if area_m2(outside) > TOLERANCE_M2:
                raise EditError(
                    "outside_parent",
                    f"{plan.code(k)} 超出上级 {plan.code(parent)} {area_m2(outside):.0f} 平方米 / "
                    f"{plan.code(k)} reaches {area_m2(outside):.0f} m² outside its parent "
                    f"{plan.code(parent)}",
                    point_where(_clean(outside), area_m2=round(area_m2(outside), 1)),
                )
        # Only gaps the edit opens count: a gap the data had before is the topology check's.
        region = _changed_region(plan, parent)
        near = [plan.geom(k) for k in kids if plan.geom(k).intersects(region)]
        uncovered = _difference(
            _intersection(parent_geom, region), shapely.union_all(near, grid_size=GRID_DEGREES)
        )
        if parent in plan.old:
            old_kids = [
                plan.old[k]
                for k in plan.units
                if plan.units[k].parent_id == parent and plan.old[k].intersects(region)
            ]
            uncovered = _difference(
                uncovered,
                _difference(
                    _intersection(plan.old[parent], region),
                    shapely.union_all(old_kids, grid_size=GRID_DEGREES),
                ),
            )
        gaps = [g for g in _clean(uncovered).geoms if area_m2(g) > TOLERANCE_M2]
        if gaps:
            total = sum(area_m2(g) for g in gaps)
            raise EditError(
                "gap",
                f"此修改会在 {plan.code(parent)} 内留下 {len(gaps)} 处空隙，共 {total:.0f} 平方米 / "
                f"the edit would leave {len(gaps)} gap(s) of {total:.0f} m² in "
                f"{plan.code(parent)}",
                {
                    "unit": plan.code(parent),
                    "gaps": [point_where(g, area_m2=round(area_m2(g), 1)) for g in gaps],
                },
            )


def _changed_region(plan: Plan, parent: int) -> BaseGeometry:
    """Where the cover of `parent` by its children can differ from before the edit."""
    parts = []
    for c in plan.changes.values():
        before_parent = c.before.parent_id if c.before is not None else None
        if parent not in (c.parent_key, before_parent) and c.key != parent:
            continue
        old, new = plan.old.get(c.key), c.geom
        if old is None or new is None or (c.key != parent and c.parent_key != before_parent):
            parts += [g for g in (old, new) if g is not None]
        else:
            parts.append(shapely.symmetric_difference(old, new, grid_size=GRID_DEGREES))
    return shapely.union_all(parts, grid_size=GRID_DEGREES)


# Applying ------------------------------------------------------------------------------------


def _load_model():
    return next((m for m in assignable_models() if m.grid_counts_as_load), None)


def _grid_loads(grid_ids: Iterable[int]) -> dict[int, int]:
    model = _load_model()
    ids = [i for i in grid_ids if i is not None]
    if model is None or not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT grid_id, count(*) FROM {connection.ops.quote_name(model._meta.db_table)} "
            "WHERE grid_id = ANY(%s) GROUP BY grid_id",
            [ids],
        )
        return dict(cursor.fetchall())


def _reassignment_area(plan: Plan) -> BaseGeometry | None:
    """Where a layer row can change grid: what moved between grids, and the whole of a grid
    whose code changed (the code breaks ties on shared edges)."""
    parts = []
    for change in plan.changes.values():
        was_grid = change.before is not None and change.before.level == "grid"
        if change.level != "grid" and not was_grid:
            continue
        old = plan.old.get(change.key)
        if change.before is None or change.geom is None:
            parts.append(change.geom if change.geom is not None else old)
        elif change.code != change.before.code:
            parts.append(_union(old, change.geom))
        else:
            parts.append(old.symmetric_difference(change.geom))
    parts = [p for p in parts if p is not None and not p.is_empty]
    return shapely.union_all(parts) if parts else None


def _apply(plan: Plan, edit: UnitEdit) -> tuple[dict[int, int], dict[str, dict]]:
    """Write the states, move staff, reassign the layers; return the ids of created units and
    the moves per layer."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('gridmap.edit_id', %s, true)", [str(edit.pk)])
    ids: dict[int, int] = {k: k for k in plan.units}
    by_level = sorted(plan.changes.values(), key=lambda c: LEVEL_ORDER[c.level])
    now = timezone.now()
    for change in by_level:
        if change.geom is None:
            continue
        parent_id = ids[change.parent_key] if change.parent_key is not None else None
        if change.before is None:
            unit = GridUnit(
                level=change.level,
                code=change.code,
                name=change.name,
                parent_id=parent_id,
                geom=to_geos(change.geom),
                target_households=change.target_households,
            )
            if change.key > 0:  # an undo brings back a deleted unit under its own id
                unit.pk = change.key
            unit.save()
            ids[change.key] = unit.pk
        else:
            GridUnit.objects.filter(pk=change.key).update(
                geom=to_geos(change.geom),
                code=change.code,
                name=change.name,
                parent_id=parent_id,
                version=F("version") + 1,
                updated_at=now,
            )
    staff_moved = []
    for source, target in plan.staff_moves:
        moved = list(StaffMember.objects.filter(unit_id=ids[source]).values_list("pk", flat=True))
        StaffMember.objects.filter(pk__in=moved).update(unit_id=ids[target])
        staff_moved.append({"from": ids[source], "to": ids[target], "staff": moved})
    edit.staff_moved = staff_moved

    deleted = sorted(
        (c for c in plan.changes.values() if c.geom is None), key=lambda c: -LEVEL_ORDER[c.level]
    )
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        # Deleted first, so the reassignment sees only the new grids. The layers' foreign keys
        # are checked at commit; by then no row points at a deleted unit (see below).
        for change in deleted:
            cursor.execute(f"DELETE FROM {q(GridUnit._meta.db_table)} WHERE id = %s", [change.key])
    area = _reassignment_area(plan)
    moves: dict[str, list] = {}
    if area is not None:
        for result in assign_all(area=to_geos(area), report=True):
            moves[result.layer] = list(result.moves)
    for change in deleted:
        _release(change.key)
    with connection.cursor() as cursor:
        # Check the deferred foreign keys now, so a dangling one fails the edit, not the commit.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return ids, moves


def _release(unit_id: int) -> None:
    """Rows of the layers still pointing at a deleted unit lose it: the grid a case was
    reported in (and any row the reassignment did not reach, which there should be none of)."""
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in assignable_models():
            columns = ["grid_id"]
            if model.grid_keep_first:
                columns.append(model._meta.get_field(model.grid_keep_first).column)
            for column in columns:
                cursor.execute(
                    f"UPDATE {q(model._meta.db_table)} SET {q(column)} = NULL "
                    f"WHERE {q(column)} = %s",
                    [unit_id],
                )


def _unit_report(plan: Plan, ids: dict[int, int], preview: bool) -> list[dict]:
    rows = []
    for change in sorted(plan.changes.values(), key=lambda c: (LEVEL_ORDER[c.level], c.code)):
        before = change.before
        action = "created" if before is None else "deleted" if change.geom is None else "changed"
        parent = change.parent_key
        rows.append(
            {
                "id": None if (before is None and preview) else ids.get(change.key),
                "code": change.code,
                "code_before": before.code if before else None,
                "name": change.name,
                "level": change.level,
                "parent_code": plan.code(parent) if parent is not None else None,
                "action": action,
                "version_before": before.version if before else None,
                "version_after": None
                if change.geom is None
                else (before.version + 1 if before else 1),
                "target_households": change.target_households,
                "area_m2_before": round(area_m2(plan.old.get(change.key)), 1) if before else 0.0,
                "area_m2_after": round(area_m2(change.geom), 1),
                "geometry": to_geojson(change.geom),
            }
        )
    return rows


def _reports(
    plan: Plan, ids: dict[int, int], moves: dict[str, list], code_of: dict, hidden: set[int]
) -> tuple[dict[str, dict], list[dict]]:
    """What moved from which grid to which per layer, and each affected grid's load (households
    after the edit against its target; before = after − what came in + what went out)."""
    moved_grids = {g for layer in moves.values() for old, new, _ in layer for g in (old, new)}
    moved_grids.discard(None)
    for g in moved_grids - set(code_of):
        code_of[g] = GridUnit.objects.filter(pk=g).values_list("code", flat=True).first()
    reassignment = {
        layer: {
            "moved": sum(n for *_, n in pairs),
            "pairs": [
                {"from": code_of.get(old), "to": code_of.get(new), "count": n}
                for old, new, n in sorted(
                    pairs, key=lambda m: (code_of.get(m[0]) or "", code_of.get(m[1]) or "")
                )
            ],
        }
        for layer, pairs in moves.items()
    }
    changed_grids = {
        ids[c.key]
        for c in plan.changes.values()
        if c.level == "grid" or (c.before is not None and c.before.level == "grid")
    }
    affected = sorted(changed_grids | moved_grids, key=lambda g: code_of.get(g) or "")
    load_model = _load_model()
    load_moves = moves.get(layer_name(load_model), []) if load_model else []
    after = _grid_loads(affected)
    # Ancestors for the effective target; their polygons are not needed.
    units = (
        GridUnit.objects.select_related("parent__parent__parent")
        .defer("geom", "parent__geom", "parent__parent__geom", "parent__parent__parent__geom")
        .in_bulk(affected)
    )
    load = []
    for g in affected:
        came = sum(n for old, new, n in load_moves if new == g)
        went = sum(n for old, new, n in load_moves if old == g)
        unit = units.get(g)
        households = after.get(g, 0)
        target = unit.effective_target if unit else None
        load.append(
            {
                "id": None if g in hidden else g,
                "code": code_of.get(g),
                "name": unit.name if unit else plan.units[g].name,
                "exists": unit is not None,
                "households_before": households - came + went,
                "households_after": households,
                "target": target,
                "ratio": round(households / target, 2) if target else None,
                "flag": staffing.workload_flag(households, target) if target else None,
            }
        )
    return reassignment, load


def _run(
    operation: str,
    build: Callable[[Plan], None],
    *,
    user: AbstractBaseUser | None,
    note: str,
    preview: bool,
    versions: dict[int, int] | None = None,
    undoes: UnitEdit | None = None,
) -> EditResult:
    with transaction.atomic():
        plan = Plan()
        try:
            build(plan)
        except GeometryError as exc:
            raise EditError(exc.code, exc.detail, exc.where) from None
        for unit_id, version in (versions or {}).items():
            if unit_id in plan.units:
                plan.expect(unit_id, version)
        if not plan.changes:
            raise EditError("no_change", "此修改没有改变任何单元 / the edit changes no unit")
        try:
            _validate(plan)
        except GeometryError as exc:
            raise EditError(exc.code, exc.detail, exc.where) from None

        code_of = {k: plan.code(k) for k in plan._all_keys()}
        for change in plan.changes.values():
            if change.before is not None:
                code_of[change.key] = change.before.code

        is_user = user is not None and getattr(user, "is_authenticated", False)
        edit = UnitEdit.objects.create(
            operation=operation,
            user=user if is_user else None,
            username=user.get_username() if is_user else "",
            note=note or "",
            undoes=undoes,
        )
        ids, moves = _apply(plan, edit)
        created = {ids[k] for k, c in plan.changes.items() if c.before is None and k < 0}
        code_of.update({ids[k]: plan.code(k) for k in plan.changes if plan.exists(k)})
        reassignment, load = _reports(plan, ids, moves, code_of, created if preview else set())
        unit_rows = _unit_report(plan, ids, preview)
        edit.unit_ids = sorted(ids[k] for k in plan.changes)
        edit.changes = [{k: v for k, v in row.items() if k != "geometry"} for row in unit_rows]
        edit.reassignment = reassignment
        edit.load = load
        edit.save()
        result = EditResult(
            operation=operation,
            preview=preview,
            edit=None if preview else edit,
            units=unit_rows,
            versions={str(k): u.version for k, u in sorted(plan.units.items())},
            reassignment=reassignment,
            load=load,
            staff_moved=edit.staff_moved,
        )
        if preview:
            transaction.set_rollback(True)
    return result


# Public API ----------------------------------------------------------------------------------


def _edit_unit(
    operation: str,
    unit_id: int,
    version: int,
    step: Callable[[Plan], None],
    *,
    user=None,
    note: str = "",
    preview: bool = False,
    versions: dict[int, int] | None = None,
) -> EditResult:
    """Lock the unit and its siblings, check its version, then run `step` on the plan."""

    def build(plan: Plan) -> None:
        plan.lock(unit_id)
        plan.expect(unit_id, version)
        step(plan)

    return _run(operation, build, user=user, note=note, preview=preview, versions=versions)


# Every operation takes the options of _edit_unit: user, note, preview, versions (the versions of
# the other units the edit touches, as a preview returned them).


def reshape(unit_id: int, version: int, geometry: BaseGeometry, **options: Any) -> EditResult:
    """Move the boundary of a unit; neighbours' shared edges and the levels below follow."""
    return _edit_unit(
        Operation.RESHAPE,
        unit_id,
        version,
        lambda plan: _reshape(plan, unit_id, geometry),
        **options,
    )


def split(
    unit_id: int, version: int, line: BaseGeometry, name: str | None = None, **options: Any
) -> EditResult:
    """Cut a unit in two by a line; the north-western part keeps the code."""
    return _edit_unit(
        Operation.SPLIT, unit_id, version, lambda plan: _split(plan, unit_id, line, name), **options
    )


def merge(
    unit_id: int, version: int, other_id: int, other_version: int, **options: Any
) -> EditResult:
    """Merge `other_id` into `unit_id` (which keeps its code); the other's children and staff
    move over."""

    def step(plan: Plan) -> None:
        if other_id == unit_id:
            raise EditError("not_adjacent", "不能与自身合并 / a unit cannot merge with itself")
        if other_id not in plan.units:
            plan.lock(other_id)
        plan.expect(other_id, other_version)
        _merge(plan, unit_id, other_id)

    return _edit_unit(Operation.MERGE, unit_id, version, step, **options)


def transfer(unit_id: int, version: int, area: BaseGeometry, **options: Any) -> EditResult:
    """Hand the drawn `area` (within the unit's parent) from its current units to `unit_id`."""
    return _edit_unit(
        Operation.TRANSFER, unit_id, version, lambda plan: _transfer(plan, unit_id, area), **options
    )


def restore(unit_id: int, version: int, to_version: int, **options: Any) -> EditResult:
    """Give a unit back the boundary of an earlier version, as a reshape (validated, with the
    neighbours and the levels below following)."""

    def step(plan: Plan) -> None:
        old = (
            UnitVersion.objects.filter(unit_id=unit_id, version=to_version)
            .order_by("-valid_from")
            .first()
        )
        if old is None:
            raise EditError(
                "not_found",
                f"单元没有版本 {to_version} / the unit has no version {to_version}",
                "to_version",
                404,
            )
        _reshape(plan, unit_id, to_shapely(old.geom))

    return _edit_unit(Operation.RESTORE, unit_id, version, step, **options)


def undo(edit_id: int, *, user=None, note: str = "", preview: bool = False) -> EditResult:
    """Put every unit an edit touched back as it was before, if none changed since."""
    edit = UnitEdit.objects.filter(pk=edit_id).first()
    if edit is None:
        raise EditError(
            "not_found", f"编辑 {edit_id} 不存在 / edit {edit_id} does not exist", None, 404
        )
    if UnitEdit.objects.filter(undoes=edit).exists():
        raise EditError(
            "already_undone",
            f"编辑 {edit_id} 已撤销 / edit {edit_id} was undone already",
            None,
            409,
        )

    def build(plan: Plan) -> None:
        rows = sorted(edit.changes, key=lambda r: LEVEL_ORDER[r["level"]])
        for row in rows:
            if row["action"] == "deleted":
                if GridUnit.objects.filter(pk=row["id"]).exists():
                    raise _superseded(edit, row["code_before"])
                continue
            unit = GridUnit.objects.select_for_update().filter(pk=row["id"]).first()
            if unit is None or unit.version != row["version_after"]:
                raise _superseded(edit, row["code"])
            plan._take([unit])
        for row in rows:
            if row["action"] == "created":
                plan.set_geom(row["id"], None)
                continue
            old = (
                UnitVersion.objects.filter(
                    unit_id=row["id"], version=row["version_before"], code=row["code_before"]
                )
                .order_by("-valid_from")
                .first()
            )
            state = {
                "geom": to_shapely(old.geom),
                "code": old.code,
                "name": old.name,
                "parent_key": old.parent_id,
            }
            if row["action"] == "deleted":
                plan.changes[row["id"]] = Change(
                    key=row["id"],
                    level=old.level,
                    target_households=row.get("target_households"),
                    before=None,
                    **state,
                )
            else:
                change = plan._change(row["id"])
                for name, value in state.items():
                    setattr(change, name, value)
        for move in edit.staff_moved:
            plan.staff_moves.append((move["to"], move["from"]))
        for parent_id in {plan.parent_key(k) for k in plan.changes} - {None}:
            if parent_id not in plan.units and parent_id not in plan.changes:
                plan._take(GridUnit.objects.select_for_update().filter(pk=parent_id))

    return _run(Operation.UNDO, build, user=user, note=note, preview=preview, undoes=edit)


def _superseded(edit: UnitEdit, code: str) -> EditError:
    return EditError(
        "edit_superseded",
        f"编辑 {edit.pk} 之后 {code} 又被修改过，不能直接撤销；请改用恢复版本 / {code} changed "
        f"after edit {edit.pk}, so it cannot be undone; restore a version instead",
        {"unit": code, "edit": edit.pk},
        409,
    )
