"""利民社区 (Limin community, 钢城街道, 嘉峪关市) as seed 004 describes it, inside a Jiayuguan
network that tiles exactly; writes the committed files in fixtures/geo/limin/.

    .venv/bin/python -m layers.demo.limin

Seed 004: 0.06 km² bounded by 五一北路 (E), 嘉兴东路 (S), 新华北路 (W) and the 酒钢 stockyard
(N), north of 新华北路47号; 61 residential buildings, 2,261 households, 4,389 residents, 258
party members, 531 floating, 1,064 retired, 28 unemployed, 146 disabled, 1,311 aged 60+. The
totals are reproduced exactly; the layout, the people and the neighbouring units are invented.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, box

from layers.demo import synthcity as sc
from layers.demo.outlines import FIXTURES, read_outline

FOLDER = FIXTURES / "limin"
SEED = 4
NETWORK_CODE, NETWORK_NAME = "620200", "嘉峪关市"
CENTRE = (98.2900, 39.8000)  # lon, lat of Limin's centre, WGS84

# Seed 004, exactly.
TOTALS = {
    "households": 2261,
    "residents": 4389,
    "party_members": 258,
    "floating": 531,
    "retired": 1064,
    "unemployed": 28,
    "disabled": 146,
    "aged_60_plus": 1311,
}
RESIDENTIAL_BUILDINGS = 61

# Limin in metres around CENTRE: 255 m × 235 m = 0.0599 km², cut by two lanes each way into
# the nine blocks that are its nine grids.
HALF_W, HALF_H = 127.5, 117.5
LANES_X = (-42.5, 42.5)
LANES_Y = (-39.2, 39.2)

SEGMENT = "钢城街道"
OTHER_SEGMENTS = ("五一街道", "新华街道", "胜利街道", "前进街道")
NODE = "利民社区"
# Neighbouring communities (illustrative names): two more in 钢城街道, two in every other segment.
GANGCHENG_NODES = ("福民社区", "和诚社区")
OTHER_NODES = sc.word_list(
    "五一社区 东湖社区 新华社区 明珠社区 胜利社区 建林社区 前进社区 朝阳社区"
)
GRIDS_PER_OTHER_NODE = 3
# Names for the other lattice streets; never one of Limin's own roads.
JIAYUGUAN_WORDS = sc.word_list(
    """
雄关 兰新 建设 胜利 迎宾 峪泉 长城 祁连 明珠 大唐 文化 朝阳 前进 体育 机场 东湖 南湖 紫轩 丝路 酒钢
育才 友谊 和平 民主 团结 光明 富强 振兴 安远 镜铁 新城 嘉东 嘉西 世纪 金港 铁南 火车站 讨赖 黑山 玉泉
"""
)

# House numbers: each of Limin's buildings takes the road of its column; numbers run along
# the road (south→north, west→east), odd on 新华北路's east side and 嘉兴东路's north side,
# even on 五一北路's west side. 新华北路 starts at 41, so 新华北路47号 is the second row's
# first building of the south-west block, and the community centre stands north of it.
COLUMN_ROAD = ("新华北路", "嘉兴东路", "五一北路")
FIRST_NUMBER = {"新华北路": 41, "嘉兴东路": 1, "五一北路": 60}

# Limin's households: older and smaller than the city default (seed 004: party members'
# average age is 69, 30% of residents are 60+, 1.94 residents per household).
PROFILE = sc.HouseholdProfile(
    residents_p=(0.36, 0.42, 0.13, 0.06, 0.02, 0.01),
    elderly_only=0.25,
    with_elderly=0.12,
    floating=0.18,
    party_old=0.15,
    party_young=0.02,
    disabled_old=0.07,
    disabled_young=0.018,
    unemployed=0.009,
    retired_old=0.72,
    retired_young=0.04,
)

# Slab rows, west to east: A = three 2-unit slabs, B = two 3-unit, C = a 4-unit and a 2-unit,
# D = a 2-unit and a 4-unit.
ROWS = {"A": (2, 2, 2), "B": (3, 3), "C": (4, 2), "D": (2, 4)}
UNIT_WIDTH, SLAB_DEPTH, SETBACK = 11.0, 10.5, 5.0
# Per block (column, row from the south): its rows, and slots (row, index) that are not homes.
LAYOUT = {
    (0, 0): ("ABC", {}),
    (0, 1): ("DBA", {(0, 0): ("public", "利民社区服务中心", 3)}),
    (0, 2): ("ABC", {}),
    (1, 0): ("ABC", {}),
    (1, 1): ("BCA", {}),
    (1, 2): ("ABC", {}),
    (2, 0): ("ABC", {}),
    (2, 1): ("AAB", {(0, 2): ("commercial", "利民商业楼", 2), (1, 2): ("public", "利民幼儿园", 2)}),
    (2, 2): ("ABC", {}),
}


LIMIN = box(-HALF_W, -HALF_H, HALF_W, HALF_H)


def block_box(column: int, row: int):
    """The block of Limin in `column` (west→east) and `row` (south→north), metres."""
    xs = (-HALF_W, *LANES_X, HALF_W)
    ys = (-HALF_H, *LANES_Y, HALF_H)
    return box(xs[column], ys[row], xs[column + 1], ys[row + 1])


def forced_lines(outline) -> list[sc.StreetLine]:
    """Limin's roads through the whole city, its stockyard fence, and its inner lanes."""
    minx, miny, maxx, maxy = outline.bounds
    far = 500.0
    return [
        sc.StreetLine(
            "新华北路",
            "arterial",
            LineString([(-HALF_W, maxy + far), (-HALF_W, miny - far)]),
            "ns",
            -HALF_W,
        ),
        sc.StreetLine(
            "五一北路",
            "arterial",
            LineString([(HALF_W, miny - far), (HALF_W, maxy + far)]),
            "ns",
            HALF_W,
        ),
        sc.StreetLine(
            "嘉兴东路",
            "street",
            LineString([(minx - far, -HALF_H), (maxx + far, -HALF_H)]),
            "ew",
            -HALF_H,
        ),
        # The stockyard's fence bounds Limin in the north but is no road.
        sc.StreetLine(
            "酒钢料场围墙", "", LineString([(-HALF_W, HALF_H), (HALF_W, HALF_H)]), "ew", HALF_H
        ),
        *(sc.StreetLine("", "path", LineString([(x, -HALF_H), (x, HALF_H)])) for x in LANES_X),
        *(sc.StreetLine("", "path", LineString([(-HALF_W, y), (HALF_W, y)])) for y in LANES_Y),
    ]


def limin_buildings(
    rng: np.random.Generator,
) -> tuple[sc.Footprints, list[str], list[tuple[int, int]]]:
    """Limin's footprints by LAYOUT, with the names of the non-residential ones and each
    building's block (column, row)."""
    rows = {k: [] for k in ("cx", "cy", "length", "depth", "kind", "floors", "units", "rooms")}
    names: list[str] = []
    where: list[tuple[int, int]] = []
    for (column, row), (row_kinds, special) in LAYOUT.items():
        minx, miny, maxx, maxy = block_box(column, row).buffer(-SETBACK, join_style="mitre").bounds
        pitch = (maxy - miny - SLAB_DEPTH) / (len(row_kinds) - 1)
        for r, kind in enumerate(row_kinds):
            units = ROWS[kind]
            lengths = [UNIT_WIDTH * u + 1 for u in units]
            gap = (maxx - minx - sum(lengths)) / (len(units) - 1)
            x = minx
            for i, (u, length) in enumerate(zip(units, lengths, strict=True)):
                b_kind, name, floors = special.get((r, i), ("residential", "", 0))
                rows["cx"].append(x + length / 2)
                rows["cy"].append(miny + SLAB_DEPTH / 2 + r * pitch)
                rows["length"].append(length)
                rows["depth"].append(SLAB_DEPTH)
                rows["kind"].append(b_kind)
                home = b_kind == "residential"
                rows["floors"].append(
                    int(rng.choice([5, 6, 7], p=[0.2, 0.5, 0.3])) if home else floors
                )
                rows["units"].append(u if home else 1)
                rows["rooms"].append((3 if rng.random() < 0.6 else 2) if home else 0)
                names.append(name)
                where.append((column, row))
                x += length + gap
    arrays = {k: np.asarray(v) for k, v in rows.items()}
    arrays["kind"] = arrays["kind"].astype(object)
    fp = sc.Footprints(block=np.zeros(len(names), dtype=np.int64), **arrays, angle=0.0)
    return fp, names, where


def limin_addresses(
    fp: sc.Footprints, where: list[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Road of each building's column; numbers along the road, nearer the road first."""
    road = np.array([COLUMN_ROAD[c] for c, _ in where], dtype=object)
    along = np.where(road == "嘉兴东路", fp.cx, fp.cy)
    off = np.where(
        road == "新华北路",
        fp.cx + HALF_W,
        np.where(road == "五一北路", HALF_W - fp.cx, fp.cy + HALF_H),
    )
    number = np.zeros(len(fp), dtype=np.int64)
    for name, first in FIRST_NUMBER.items():
        idx = np.flatnonzero(road == name)
        order = idx[np.lexsort((off[idx], np.round(along[idx], 1)))]
        number[order] = first + 2 * np.arange(len(order))
    return road, number


def adjust_total(
    values: np.ndarray,
    low: np.ndarray | int,
    high: np.ndarray | int,
    target: int,
    rng: np.random.Generator,
    prefer: np.ndarray | None = None,
) -> np.ndarray:
    """Add or take one here and there, within [low, high], until `values` sums to `target`;
    `prefer` weights which rows change."""
    values = values.copy()
    low = np.broadcast_to(low, values.shape)
    high = np.broadcast_to(high, values.shape)
    weight = np.ones(len(values)) if prefer is None else prefer.astype(float) + 1e-3
    while (diff := int(target - values.sum())) != 0:
        room = values < high if diff > 0 else values > low
        candidates = np.flatnonzero(room)
        if not len(candidates):
            raise ValueError(f"cannot reach a total of {target}")
        p = weight[candidates] / weight[candidates].sum()
        pick = rng.choice(candidates, min(abs(diff), len(candidates)), replace=False, p=p)
        values[pick] += np.sign(diff)
    return values


def exact_members(rows: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Bring the household table to seed 004's totals, each count within 0..residents."""
    rows = rows.copy()
    rows["residents"] = adjust_total(rows["residents"].to_numpy(), 1, 6, TOTALS["residents"], rng)
    residents = rows["residents"].to_numpy()
    for name in sc.CATEGORY_FIELDS:
        rows[name] = np.minimum(rows[name].to_numpy(), residents)
    aged = adjust_total(rows["aged_60_plus"].to_numpy(), 0, residents, TOTALS["aged_60_plus"], rng)
    rows["aged_60_plus"] = aged
    young = residents - aged
    # Who gains or loses a member of a class: the old for retirees, party members and the
    # disabled; the young for the floating and the unemployed.
    prefer = {
        "retired": aged,
        "party_members": aged,
        "disabled": aged + 0.3 * young,
        "floating": young,
        "unemployed": young,
    }
    for name, weight in prefer.items():
        rows[name] = adjust_total(rows[name].to_numpy(), 0, residents, TOTALS[name], rng, weight)
    members = {name: rows[name].to_numpy() for name in ("residents", *sc.CATEGORY_FIELDS)}
    rows["color"] = sc.five_colors(members, rng)
    return rows


def build() -> sc.City:
    rng = np.random.default_rng(SEED)
    frame = sc.LocalFrame(*CENTRE)
    outline = shapely.make_valid(frame.to_metric(read_outline("jiayuguan.geojson")))
    if not outline.contains(LIMIN.buffer(300)):
        raise ValueError("Limin must lie well inside the Jiayuguan outline")
    forced = forced_lines(outline)
    lines = sc.street_lattice(
        outline,
        rng,
        spacing=200.0,
        angle=0.0,
        name_words=JIAYUGUAN_WORDS,
        forced=forced,
        carve=[LIMIN],
    )
    tess = sc.tessellate(outline, lines, rng, min_area=0.12 * 200.0**2, carve=[LIMIN], frame=frame)
    n = len(tess.blocks)
    in_limin = tess.zone == 0
    limin_blocks = np.flatnonzero(in_limin)
    if len(limin_blocks) != 9:
        raise ValueError(f"Limin should be 9 blocks, got {len(limin_blocks)}")
    centroids = tess.centroids
    block_cell = {
        int(b): (
            int(np.searchsorted(LANES_X, centroids[b, 0])),
            int(np.searchsorted(LANES_Y, centroids[b, 1])),
        )
        for b in limin_blocks
    }
    weight = tess.areas

    # 钢城街道 grows from Limin; Limin is exactly its own community and its blocks its grids.
    pinned = np.where(in_limin, 0, -1)
    segment = sc.partition(
        np.zeros(n, dtype=np.int64),
        np.array([1 + len(OTHER_SEGMENTS)]),
        weight,
        tess,
        rng,
        pinned=pinned,
    )
    gangcheng = int(segment[limin_blocks[0]])
    k_nodes = np.array([3 if s == gangcheng else 2 for s in range(1 + len(OTHER_SEGMENTS))])
    node = sc.partition(segment, k_nodes, weight, tess, rng, pinned=pinned, closed=True)
    limin_node = int(node[limin_blocks[0]])
    k_grids = np.array(
        [9 if v == limin_node else GRIDS_PER_OTHER_NODE for v in range(int(k_nodes.sum()))]
    )
    grid_pin = np.full(n, -1)
    for b in limin_blocks:
        column, row = block_cell[int(b)]
        grid_pin[b] = 3 * row + column
    grid = sc.partition(node, k_grids, weight, tess, rng, pinned=grid_pin, closed=True)

    other_segments = iter(OTHER_SEGMENTS)
    other_nodes = {SEGMENT: iter(GANGCHENG_NODES), "": iter(OTHER_NODES)}
    units, grid_code = sc.units_from_blocks(
        frame,
        tess.blocks,
        [segment, node, grid],
        network_code=NETWORK_CODE,
        network_name=NETWORK_NAME,
        namers=[
            lambda groups, parent: [
                SEGMENT if g == gangcheng else next(other_segments) for g in groups
            ],
            lambda groups, parent: [
                NODE if g == limin_node else next(other_nodes["" if parent != SEGMENT else SEGMENT])
                for g in groups
            ],
            lambda groups, parent: [f"{parent}第{i}网格" for i in range(1, len(groups) + 1)],
        ],
    )

    fp, names, where = limin_buildings(rng)
    block_of_cell = {cell: b for b, cell in block_cell.items()}
    fp.block = np.array([block_of_cell[cell] for cell in where], dtype=np.int64)
    residential = fp.rooms > 0
    if residential.sum() != RESIDENTIAL_BUILDINGS:
        raise ValueError(
            f"{residential.sum()} residential buildings, seed 004 has {RESIDENTIAL_BUILDINGS}"
        )
    road, number = limin_addresses(fp, where)
    numbers = np.char.add(number.astype(str), "号").astype(object)
    address = np.char.add(road.astype(str), numbers.astype(str)).astype(object)
    keys = np.array([f"{NETWORK_CODE}-LM{i:03d}" for i in range(1, len(fp) + 1)], dtype=object)

    building_grid = grid[fp.block]
    grid_ids = np.unique(building_grid)
    local = np.searchsorted(grid_ids, building_grid)
    capacity = np.bincount(local, weights=fp.capacity, minlength=len(grid_ids))
    per_grid = sc.apportion(
        TOTALS["households"],
        rng.lognormal(0, 0.05, len(grid_ids)),
        np.zeros(len(grid_ids)),
        np.floor(0.95 * capacity),
    )
    per_building = sc.apportion_grouped(
        per_grid, local, fp.capacity * rng.uniform(0.8, 1.0, len(fp)), fp.capacity
    )
    rows, _ = sc.household_rows(fp, per_building, keys, rng, PROFILE)
    rows = exact_members(rows, rng)

    buildings = fp.frame(frame, keys, names, road, numbers)
    return sc.City(
        network_code=NETWORK_CODE,
        network_name=NETWORK_NAME,
        grid_target=250,
        units=units,
        staff=sc.staff_for(units, rng),
        buildings=buildings,
        households=rows,
        cameras=limin_cameras(frame, fp, names, address, rng),
        facilities=facilities(frame, tess, fp, names, address, grid_code, units, rng),
        roads=sc.roads_frame(frame, tess),
    )


def limin_cameras(frame, fp, names, address, rng) -> gpd.GeoDataFrame:
    """Poles at Limin's four road corners and its lane crossings, and over the doors of the
    community centre, the shops, the kindergarten and a few homes."""
    inset = 6.0
    corners = [
        ((-HALF_W + inset, -HALF_H + inset), 90.0, "新华北路与嘉兴东路路口"),
        ((HALF_W - inset, -HALF_H + inset), 270.0, "五一北路与嘉兴东路路口"),
        ((-HALF_W + inset, HALF_H - inset), 180.0, "新华北路酒钢料场路段"),
        ((HALF_W - inset, HALF_H - inset), 180.0, "五一北路酒钢料场路段"),
    ]
    corners += [
        ((x + 4.0, y + 4.0), float(rng.uniform(0, 360)), "利民社区内部道路路口")
        for x in LANES_X
        for y in LANES_Y
    ]
    doors = [i for i, name in enumerate(names) if name]
    homes = np.flatnonzero(fp.rooms > 0)
    doors += sorted(rng.choice(homes, 4, replace=False).tolist())
    door_xy = fp.local_points(np.array(doors), np.zeros(len(doors)), np.full(len(doors), -1.0)) - [
        0.0,
        3.0,
    ]
    xy = np.vstack([np.array([c[0] for c in corners]), door_xy])
    bearing = np.array([c[1] for c in corners] + [180.0] * len(doors))
    label = [c[2] for c in corners] + [f"{names[i] or address[i]}入口" for i in doors]
    lon, lat = frame.lonlat(xy[:, 0], xy[:, 1])
    specs = sc.camera_specs(len(xy), rng)
    specs["status"][: len(corners)] = "online"  # the road corners are the ones that matter most
    return gpd.GeoDataFrame(
        {
            "code": [f"{NETWORK_CODE}LM{i:04d}" for i in range(1, len(xy) + 1)],
            "name": label,
            "bearing": np.round(bearing % 360.0, 1),
            **specs,
        },
        geometry=shapely.points(lon, lat),
        crs=sc.WGS84,
    )


def facilities(frame, tess, fp, names, address, grid_code, units, rng) -> gpd.GeoDataFrame:
    """Limin's own services in its buildings, and the street office's larger ones nearby."""
    index = {name: i for i, name in enumerate(names) if name}
    centre, shops, kindergarten = (
        index["利民社区服务中心"],
        index["利民商业楼"],
        index["利民幼儿园"],
    )
    homes = np.flatnonzero(fp.rooms > 0)
    on_wuyi = [i for i in homes.tolist() if address[i].startswith("五一北路")]
    clinic = on_wuyi[len(on_wuyi) // 2]
    inside = [
        ("committee", "利民社区居民委员会", centre, (0.0, 0.0)),
        ("party", "利民社区党群服务中心", centre, (0.0, 0.0)),
        ("elderly", "利民社区日间照料中心", centre, (0.5, 0.0)),
        ("culture", "利民社区新时代文明实践站", centre, (-0.5, 0.0)),
        ("education", "利民幼儿园", kindergarten, (0.0, 0.0)),
        ("commerce", "利民便民超市", shops, (-0.4, 0.0)),
        ("commerce", "利民早餐店", shops, (0.4, 0.0)),
        ("medical", "利民社区卫生服务站", clinic, (0.6, 0.0)),
    ]
    idx = np.array([i for _, _, i, _ in inside])
    uv = np.array([off for *_, off in inside])
    xy_in = fp.local_points(idx, uv[:, 0], uv[:, 1])
    rows = [(kind, name, address[i]) for kind, name, i, _ in inside]

    # The street office's services sit in blocks just outside Limin, nearest first.
    outside = [
        ("government", "钢城街道便民服务中心"),
        ("medical", "钢城街道社区卫生服务中心"),
        ("education", "钢城第一小学"),
        ("culture", "钢城街道综合文化站"),
        ("sports", "钢城全民健身中心"),
        ("recreation", "嘉兴公园"),
        ("commerce", "钢城农贸市场"),
        ("elderly", "钢城街道养老服务中心"),
    ]
    gangcheng = units.loc[units["name"] == SEGMENT, "code"].iloc[0]
    limin = units.loc[units["name"] == NODE, "code"].iloc[0]
    near = np.array(
        [
            i
            for i, code in enumerate(grid_code)
            if code.startswith(gangcheng) and not code.startswith(limin)
        ]
    )
    reps = shapely.get_coordinates(shapely.point_on_surface(tess.blocks[near]))
    order = near[np.argsort(np.hypot(reps[:, 0], reps[:, 1]), kind="stable")]
    chosen = order[: len(outside)]
    xy_out = shapely.get_coordinates(shapely.point_on_surface(tess.blocks[chosen]))
    limin_roads = {"新华北路", "嘉兴东路", "五一北路"}
    others = sorted({ln.name for ln in tess.lines if ln.name and ln.kind} - limin_roads)
    road, number = sc.addresses(tess, xy_out[:, 0], xy_out[:, 1], allowed=others)
    rows += [
        (kind, name, f"{r}{k}号") for (kind, name), r, k in zip(outside, road, number, strict=True)
    ]
    xy = np.vstack([xy_in, xy_out])
    lon, lat = frame.lonlat(xy[:, 0], xy[:, 1])
    kinds, names_, addresses_ = zip(*rows, strict=True)
    return gpd.GeoDataFrame(
        {"kind": kinds, "name": names_, "address": addresses_},
        geometry=shapely.points(lon, lat),
        crs=sc.WGS84,
    )


def load_fixture() -> sc.City:
    """The committed Jiayuguan / 利民社区 city."""
    return sc.City.from_folder(FOLDER)


def main() -> None:
    city = build()
    sizes = city.to_folder(FOLDER)
    limin = city.units.loc[city.units["name"] == NODE].iloc[0]
    area = abs(shapely.area(sc.LocalFrame(*CENTRE).to_metric(limin.geometry))) / 1e6
    print(f"{NODE} {limin['code']}: {area:.4f} km²; {city.counts()}")
    print(", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in sizes.items()))
    print(f"total {sum(sizes.values()) / 1024:.0f} KiB in {FOLDER}")


if __name__ == "__main__":
    main()
