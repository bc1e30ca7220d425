"""Synthetic cities (合成城市) for the demo data and the benchmarks, from one seed.

A perturbed street lattice is noded with the outline and polygonized into atomic blocks; grids
(网格), communities (网节) and street offices (网段) are contiguous groups of blocks and every unit
is the union of its blocks, so at every level the children tile the parent exactly. The blocks
are then filled with buildings, households, cameras, facilities, roads and staff.

All the work is done in metres in an azimuthal equidistant projection centred on the outline;
the results are WGS84 lon/lat rounded to 7 decimals (about 1 cm).
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.geometry import LineString, MultiPolygon, Polygon

from gridmap import codes

WGS84 = "EPSG:4326"
LEVELS = ("network", "segment", "node", "grid")
COLORS = ("red", "orange", "yellow", "blue", "green")
# Five-color shares (seed 004 names the classes; the spread is our assumption).
COLOR_SHARES = (0.01, 0.03, 0.07, 0.15)
CATEGORY_FIELDS = ("aged_60_plus", "disabled", "floating", "retired", "unemployed", "party_members")
HOUSEHOLD_COLUMNS = (
    "building_key",
    "unit_no",
    "floor",
    "room",
    "residents",
    "color",
    *CATEGORY_FIELDS,
    "head_name",
    "head_phone",
    "lon",
    "lat",
)


# --- the result ---------------------------------------------------------------------------


@dataclass
class City:
    """A generated (or loaded) city: the grid chain and every layer on it, WGS84."""

    network_code: str
    network_name: str
    grid_target: int
    units: gpd.GeoDataFrame  # level, code, name, parent_code, geometry (MultiPolygon)
    staff: pd.DataFrame  # unit_code, role, name, phone
    buildings: gpd.GeoDataFrame  # key, name, road, number, kind, floors, units, geometry
    households: pd.DataFrame  # HOUSEHOLD_COLUMNS; lon/lat NaN unless household_points
    cameras: gpd.GeoDataFrame  # code, name, bearing, fov, range_m, status, geometry
    facilities: gpd.GeoDataFrame  # kind, name, address, geometry
    roads: gpd.GeoDataFrame  # name, kind, walkable, geometry

    # Layers written as GeoJSON (one feature per line, so diffs stay readable) and as CSV.
    GEO_LAYERS = ("units", "buildings", "cameras", "facilities", "roads")
    TABLES = ("households", "staff")

    def to_folder(self, folder: Path) -> dict[str, int]:
        """Write every layer into `folder` (UTF-8); returns the size of each file in bytes."""
        folder.mkdir(parents=True, exist_ok=True)
        sizes = {}
        for name in self.GEO_LAYERS:
            path = folder / f"{name}.geojson"
            path.write_text(_feature_collection(getattr(self, name)), encoding="utf-8")
            sizes[path.name] = path.stat().st_size
        for name in self.TABLES:
            path = folder / f"{name}.csv"
            getattr(self, name).to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
            sizes[path.name] = path.stat().st_size
        return sizes

    @classmethod
    def from_folder(cls, folder: Path, grid_target: int = 250) -> City:
        """Read a city written by `to_folder`."""
        layers = {
            name: gpd.read_file(folder / f"{name}.geojson", engine="pyogrio")
            for name in cls.GEO_LAYERS
        }
        text = {
            "building_key": str,
            "room": str,
            "head_name": str,
            "head_phone": str,
            "unit_code": str,
            "name": str,
            "phone": str,
        }
        tables = {
            name: pd.read_csv(
                folder / f"{name}.csv",
                dtype=text,
                keep_default_na=False,
                na_values={"lon": [""], "lat": [""]},
            )
            for name in cls.TABLES
        }
        units = layers["units"]
        units["parent_code"] = units["parent_code"].where(units["parent_code"].notna(), None)
        network = units.loc[units["level"] == "network"].iloc[0]
        return cls(
            network_code=network["code"],
            network_name=network["name"],
            grid_target=grid_target,
            **layers,
            **tables,
        )

    def counts(self) -> dict[str, int]:
        by_level = self.units["level"].value_counts()
        return {
            **{f"{level}s": int(by_level.get(level, 0)) for level in LEVELS[1:]},
            "buildings": len(self.buildings),
            "households": len(self.households),
            "residents": int(self.households["residents"].sum()),
            "cameras": len(self.cameras),
            "facilities": len(self.facilities),
            "roads": len(self.roads),
            "staff": len(self.staff),
        }


def _feature_collection(frame: gpd.GeoDataFrame) -> str:
    columns = [c for c in frame.columns if c != frame.geometry.name]
    records = frame[columns].astype(object).where(frame[columns].notna(), None).to_dict("records")
    geometries = shapely.to_geojson(frame.geometry.values)
    features = [
        json.dumps(
            {"type": "Feature", "properties": props}, ensure_ascii=False, separators=(",", ":")
        )[:-1]
        + ',"geometry":'
        + geometry
        + "}"
        for props, geometry in zip(records, geometries, strict=True)
    ]
    return '{"type":"FeatureCollection","features":[\n' + ",\n".join(features) + "\n]}\n"


# --- names --------------------------------------------------------------------------------


def word_list(text: str) -> list[str]:
    """Whitespace-separated words: long lists of Chinese names stay readable."""
    return text.split()


# The commonest surnames, most frequent first (weights fall off like their real frequencies).
SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
)
GIVEN_CHARS = list(
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红建国志文斌海燕春梅晓东丹凤宇浩"
    "然子涵欣怡俊佳梓轩雨婷思远晨阳淑珍德胜永福振鹏飞云峰瑞雪琳慧颖博学诚安康宁德荣长新玲"
)
PLACE_WORDS = word_list(
    """
迎宾 友谊 胜利 和平 团结 建设 人民 解放 长征 光明 幸福 民主
文化 朝阳 新华 天山 昆仑 祁连 长江 黄河 泰山 华山 雄关 世纪
金桥 银河 锦绣 振兴 繁荣 和谐 复兴 学府 春风 育才 青年 前进
红星 东风 明珠 阳光 翠柏 青松 碧水 丽景 安康 康乐 福寿 吉祥
如意 瑞祥 丰收 劳动 实业 石油 油建 钻井 炼化 准噶尔 阿勒泰
塔河 南湖 北湖 西湖 东湖 白杨 红柳 沙枣 胡杨 雪莲 天鹅 凯旋
腾飞 盛世 兴业 宏图 远航 启航 星光 月华 晨曦 朝霞 彩虹 紫荆
丁香 玫瑰 牡丹 海棠 梧桐 银杏 松林 竹园 梅园 兰亭 菊苑 荷塘
静安 长宁 永安 永宁 永兴 永和 新村 新城 新风 新民 新生 新建
富民 富强 利民 惠民 便民 安民 康宁 福安 泰和 嘉和 嘉禾 嘉兴
昌盛 德胜 广场 中心 滨河 滨湖 沿河 河畔 湖滨 望湖 观山 望岳
秀山 碧云 白云 青云 紫云 金山 银山 宝山 龙泉 凤鸣 鹤鸣 百花
"""
)
SUFFIXES_ORDINAL = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"]


def unique_names(n: int, rng: np.random.Generator, template: str, words=PLACE_WORDS) -> list[str]:
    """`n` distinct names `template.format(word)`, plain words first, then 东/西/…, then 一/二/…."""
    tiers = [[""], ["东", "西", "南", "北", "中", "新"], SUFFIXES_ORDINAL]
    names: list[str] = []
    for tier in tiers:
        batch = [w + s for s in tier for w in words]
        names.extend(batch[i] for i in rng.permutation(len(batch)))
        if len(names) >= n:
            break
    k = 11
    while len(names) < n:
        names.extend(f"{w}{k}" for w in words)
        k += 1
    return [template.format(w) for w in names[:n]]


def person_names(n: int, rng: np.random.Generator) -> np.ndarray:
    """Fictitious Chinese names: a common surname and one or two given-name characters."""
    weights = 1.0 / np.arange(1, len(SURNAMES) + 1) ** 0.9
    surname = np.asarray(SURNAMES)[rng.choice(len(SURNAMES), n, p=weights / weights.sum())]
    chars = np.asarray(GIVEN_CHARS)
    first = chars[rng.integers(0, len(chars), n)]
    second = np.where(rng.random(n) < 0.7, chars[rng.integers(0, len(chars), n)], "")
    return np.char.add(np.char.add(surname, first), second).astype(object)


def fictitious_phones(n: int, rng: np.random.Generator, prefix: str = "1380000") -> np.ndarray:
    """Numbers like 1380000xxxx: the 0000 block is never issued, so none can reach a real person."""
    digits = np.char.zfill(rng.integers(0, 10_000, n).astype(str), 11 - len(prefix))
    return np.char.add(prefix, digits).astype(object)


# --- local metric frame -------------------------------------------------------------------


class LocalFrame:
    """An azimuthal equidistant projection centred on the city: metres, true to ~1e-5 within 30 km."""

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0, self.lat0 = lon0, lat0
        crs = pyproj.CRS.from_proj4(
            f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m +no_defs"
        )
        self._forward = pyproj.Transformer.from_crs(WGS84, crs, always_xy=True)
        self._inverse = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)

    @classmethod
    def around(cls, geom) -> LocalFrame:
        c = geom.centroid
        return cls(round(c.x, 4), round(c.y, 4))

    def to_metric(self, geom):
        return shapely.transform(
            geom, lambda c: np.column_stack(self._forward.transform(c[:, 0], c[:, 1]))
        )

    def to_wgs84(self, geom):
        """Geometries back to lon/lat, rounded to 7 decimals: equal input vertices stay equal."""
        return shapely.transform(
            geom, lambda c: np.round(np.column_stack(self._inverse.transform(c[:, 0], c[:, 1])), 7)
        )

    def lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = self._inverse.transform(x, y)
        return np.round(lon, 7), np.round(lat, 7)


def rotate(xy: np.ndarray, degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    return np.column_stack([xy[:, 0] * c - xy[:, 1] * s, xy[:, 0] * s + xy[:, 1] * c])


def compass_bearing(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Degrees clockwise from north of the direction (dx east, dy north), in [0, 360)."""
    return np.round(np.degrees(np.arctan2(dx, dy)) % 360.0, 1)


# --- street lattice -----------------------------------------------------------------------


@dataclass
class StreetLine:
    """One line of the street network in metres. kind "" marks a boundary that is not a road."""

    name: str
    kind: str  # arterial / street / path / ""
    geom: object  # LineString or MultiLineString
    axis: str = ""  # "ns" or "ew" for lines that displace lattice lines near them
    offset: float = 0.0  # position across the axis, in the lattice frame
    partial: bool = False  # a lane: only a stretch of it is built
    forced: bool = False


def street_lattice(
    outline,
    rng: np.random.Generator,
    *,
    spacing: float,
    angle: float,
    name_words: Sequence[str] = PLACE_WORDS,
    forced: Sequence[StreetLine] = (),
    carve: Sequence[Polygon] = (),
) -> list[StreetLine]:
    """A perturbed rectilinear lattice over `outline` (metres), rotated by `angle` degrees.

    Forced lines replace the lattice lines running close to them; inside `carve` polygons only
    forced lines remain (lattice lines poke 0.5 m in so that they are noded with the carve edge).
    """
    minx, miny, maxx, maxy = shapely.bounds(
        shapely.transform(outline, lambda c: rotate(c, -angle))
    ).tolist()
    margin = spacing
    lines: list[StreetLine] = []
    pool = list(name_words)
    words = iter([pool[i] for i in rng.permutation(len(pool))])
    used: set[str] = {f.name for f in forced}
    suffixes = {"arterial": ("大道", "大街"), "street": ("路", "路"), "path": ("巷", "巷")}

    def name_for(kind: str, axis: str) -> str:
        # Each word once; when they run out, words with an ordinal (和平三路).
        while True:
            word = next(words, None)
            if word is None:
                word = pool[int(rng.integers(len(pool)))] + SUFFIXES_ORDINAL[int(rng.integers(10))]
            name = word + suffixes[kind][axis == "ew"]
            if name not in used:
                used.add(name)
                return name

    for axis, lo, hi, along_lo, along_hi in (
        ("ns", minx, maxx, miny, maxy),
        ("ew", miny, maxy, minx, maxx),
    ):
        blocked = [f.offset for f in forced if f.axis == axis]
        positions = []
        p = lo - margin + rng.uniform(0, spacing)
        while p < hi + margin:
            if all(abs(p - b) > 0.6 * spacing for b in blocked):
                positions.append(p)
            p += spacing * rng.uniform(0.8, 1.25)
        arterial_every = int(rng.integers(4, 7))
        phase = int(rng.integers(0, arterial_every))
        for i, p in enumerate(positions):
            kind = "arterial" if i % arterial_every == phase else "street"
            partial = kind == "street" and rng.random() < 0.12
            if partial:
                kind = "path"
            along = np.arange(along_lo - margin, along_hi + margin + 350.0, 350.0)
            wobble = 3.0 if kind == "arterial" else 8.0
            across = p + np.clip(np.cumsum(rng.normal(0, wobble, along.size)), -25, 25)
            xy = np.column_stack([across, along] if axis == "ns" else [along, across])
            geom = LineString(rotate(xy, angle))
            for hole in carve:
                geom = geom.difference(hole.buffer(-0.5))
            if geom.is_empty:
                continue
            lines.append(StreetLine(name_for(kind, axis), kind, geom, axis, p, partial))
    return lines + [
        StreetLine(f.name, f.kind, f.geom, f.axis, f.offset, False, True) for f in forced
    ]


# --- tessellation -------------------------------------------------------------------------


@dataclass
class Tessellation:
    """Atomic blocks (metres) with their adjacency, and the road pieces that bound them."""

    blocks: np.ndarray  # Polygons
    zone: np.ndarray  # index of the carve polygon holding the block, -1 outside every one
    adj: np.ndarray  # (m, 2) block pairs sharing an edge, a < b
    adj_length: np.ndarray  # length of the shared boundary, metres
    pieces: np.ndarray  # LineStrings between intersections (roads and boundaries)
    piece_line: np.ndarray  # index into `lines` of the line each piece comes from
    lines: list[StreetLine] = field(default_factory=list)

    @property
    def centroids(self) -> np.ndarray:
        return shapely.get_coordinates(shapely.centroid(self.blocks))

    @property
    def areas(self) -> np.ndarray:
        return shapely.area(self.blocks)


def _shared_edges(polygons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of polygons that share boundary segments and the shared length.

    Exact because noded faces repeat each other's vertices along a shared edge.
    """
    rings, ring_owner = shapely.get_rings(polygons, return_index=True)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    same = ring_of[1:] == ring_of[:-1]
    p, q = xy[:-1][same], xy[1:][same]
    owner = ring_owner[ring_of[:-1][same]]
    length = np.hypot(*(q - p).T)
    pi, qi = np.round(p * 1000).astype(np.int64), np.round(q * 1000).astype(np.int64)
    swap = (pi[:, 0] > qi[:, 0]) | ((pi[:, 0] == qi[:, 0]) & (pi[:, 1] > qi[:, 1]))
    a = np.where(swap[:, None], qi, pi)
    b = np.where(swap[:, None], pi, qi)
    _, key = np.unique(np.column_stack([a, b]), axis=0, return_inverse=True)
    order = np.argsort(key, kind="stable")
    k, o = key[order], owner[order]
    twin = np.flatnonzero((k[1:] == k[:-1]) & (o[1:] != o[:-1]))
    pa, pb = o[twin], o[twin + 1]
    lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
    n = len(polygons)
    pair, inverse = np.unique(lo.astype(np.int64) * n + hi, return_inverse=True)
    total = np.bincount(inverse, weights=length[order][twin])
    return np.column_stack([pair // n, pair % n]), total


def tessellate(
    outline,
    lines: list[StreetLine],
    rng: np.random.Generator,
    *,
    min_area: float,
    carve: Sequence[Polygon] = (),
    drop_street: float = 0.06,
    frame: LocalFrame | None = None,
) -> Tessellation:
    """Node the lines with the outline boundary and polygonize them into blocks inside it.

    Some street pieces are left out (larger blocks), lanes are built over one stretch only, and
    slivers are merged into their neighbour along the longest shared edge. With `frame`, so is
    every block that rounding to 7 decimals in that frame would make invalid.
    """
    sources = np.array([ln.geom for ln in lines] + [shapely.boundary(outline)], dtype=object)
    parts = shapely.get_parts(sources)
    noded = shapely.get_parts(shapely.node(shapely.multilinestrings(parts)))
    noded = noded[shapely.length(noded) > 1e-6]
    mids = shapely.line_interpolate_point(noded, 0.5, normalized=True)
    source = _source_of(mids, sources)
    shapely.prepare(outline)
    boundary_id = len(lines)
    inside = (source == boundary_id) | shapely.covers(outline, mids)
    kinds = np.array([ln.kind for ln in lines] + ["boundary"])
    forced = np.array([ln.forced for ln in lines] + [True])
    drop = (kinds[source] == "street") & ~forced[source] & (rng.random(len(noded)) < drop_street)
    keep = inside & ~drop
    partial = np.array([ln.partial for ln in lines] + [False])
    if partial.any():
        start = rng.uniform(0.05, 0.6, len(sources))
        extent = rng.uniform(0.2, 0.4, len(sources))
        pos = shapely.line_locate_point(sources[source], mids, normalized=True)
        lane = partial[source]
        keep &= ~lane | ((pos >= start[source]) & (pos <= start[source] + extent[source]))
    pieces, piece_line = noded[keep], source[keep]

    faces = shapely.get_parts(shapely.polygonize(pieces))
    faces = faces[shapely.covers(outline, shapely.point_on_surface(faces))]
    zone = np.full(len(faces), -1)
    reps = shapely.point_on_surface(faces)
    for i, hole in enumerate(carve):
        zone[shapely.covers(hole, reps)] = i

    adj, length = _shared_edges(faces)
    labels = _merge_slivers(faces, zone, adj, length, min_area)
    blocks, block_zone = _dissolve(faces, zone, labels)
    for _ in range(4):
        broken = np.zeros(len(blocks), dtype=bool)
        if frame is not None:
            broken = ~shapely.is_valid(frame.to_wgs84(blocks))
        if not broken.any():
            break
        labels = _merge_blocks(labels, broken, block_zone, adj, length)
        blocks, block_zone = _dissolve(faces, zone, labels)
    else:
        raise ValueError("blocks stay invalid after rounding to 7 decimals")
    badj = labels[adj]
    cross = badj[:, 0] != badj[:, 1]
    lo = np.minimum(badj[cross, 0], badj[cross, 1])
    hi = np.maximum(badj[cross, 0], badj[cross, 1])
    m = len(blocks)
    pair, inverse = np.unique(lo * m + hi, return_inverse=True)
    block_adj = np.column_stack([pair // m, pair % m])
    block_len = np.bincount(inverse, weights=length[cross])
    return Tessellation(blocks, block_zone, block_adj, block_len, pieces, piece_line, list(lines))


def _source_of(points: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Index of the source line each point (a piece's midpoint) lies on.

    The lines are cut into their segments first: a tree of whole city-long lines has
    city-sized boxes and answers slowly.
    """
    parts, part_of = shapely.get_parts(sources, return_index=True)
    xy, coord_of = shapely.get_coordinates(parts, return_index=True)
    same = coord_of[1:] == coord_of[:-1]
    segments = shapely.linestrings(np.stack([xy[:-1][same], xy[1:][same]], axis=1))
    segment_of = part_of[coord_of[:-1][same]]
    tree = shapely.STRtree(segments)
    pairs = tree.query_nearest(points, all_matches=False)
    source = np.empty(len(points), dtype=np.int64)
    source[pairs[0]] = segment_of[pairs[1]]
    return source


def _merge_slivers(faces, zone, adj, length, min_area) -> np.ndarray:
    """Block label of each face: small or thin faces join the neighbour (same zone) with which
    they share the longest edge."""
    area = shapely.area(faces)
    compact = 4 * math.pi * area / np.maximum(shapely.length(faces), 1e-9) ** 2
    parent = np.arange(len(faces))
    size = area.copy()
    neighbours: dict[int, list[tuple[float, int]]] = {}
    for (a, b), w in zip(adj.tolist(), length.tolist(), strict=True):
        neighbours.setdefault(a, []).append((w, b))
        neighbours.setdefault(b, []).append((w, a))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    small = np.flatnonzero((zone < 0) & ((area < min_area) | (compact < 0.2)))
    for f in small[np.argsort(area[small], kind="stable")].tolist():
        root = find(f)
        # Done once the face's block is big enough and the face no longer stands alone.
        if size[root] >= min_area and (root != f or compact[f] >= 0.2):
            continue
        options = [
            (w, n) for w, n in neighbours.get(f, []) if zone[n] == zone[f] and find(n) != root
        ]
        if not options:
            continue
        _, best = max(options)
        other = find(best)
        parent[root] = other
        size[other] += size[root]
    roots = np.array([find(i) for i in range(len(faces))])
    _, labels = np.unique(roots, return_inverse=True)
    return labels


def _merge_blocks(labels, broken, block_zone, adj, length) -> np.ndarray:
    """Face labels after each broken block joins its neighbour along the longest shared edge
    (a near-degenerate edge between them then disappears from both)."""
    labels = labels.copy()
    a, b = labels[adj[:, 0]], labels[adj[:, 1]]
    grown: set[int] = set()
    for block in np.flatnonzero(broken).tolist():
        if block in grown:
            continue  # it took in a broken neighbour already: checked again on the next round
        touching = ((a == block) | (b == block)) & (a != b)
        other = np.where(a == block, b, a)
        touching &= block_zone[other] == block_zone[block]
        if not touching.any():
            continue
        lengths = np.bincount(other[touching], weights=length[touching])
        target = int(np.argmax(lengths))
        labels[labels == block] = target
        a[a == block], b[b == block] = target, target
        grown.add(target)
    return np.unique(labels, return_inverse=True)[1]


def _dissolve(faces, zone, labels) -> tuple[np.ndarray, np.ndarray]:
    """The blocks: the union of the faces with each label, exact since they share edges."""
    n = labels.max() + 1
    blocks = np.empty(n, dtype=object)
    block_zone = np.full(n, -1)
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(n + 1))
    for b in range(n):
        members = order[starts[b] : starts[b + 1]]
        blocks[b] = (
            faces[members[0]] if len(members) == 1 else shapely.coverage_union_all(faces[members])
        )
        block_zone[b] = zone[members[0]]
    return blocks, block_zone


# --- grouping blocks into units -----------------------------------------------------------


def apportion(total: int, weights: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Integers lower ≤ x ≤ upper summing to `total`, about proportional to `weights`."""
    lower = np.asarray(lower, dtype=np.int64)
    upper = np.asarray(upper, dtype=np.int64)
    if not lower.sum() <= total <= upper.sum():
        raise ValueError(f"cannot apportion {total} between {lower.sum()} and {upper.sum()}")
    return (
        apportion_grouped(
            np.array([total - lower.sum()]),
            np.zeros(len(weights), dtype=np.int64),
            weights,
            upper - lower,
        )
        + lower
    )


def apportion_grouped(
    totals: np.ndarray, group: np.ndarray, weights: np.ndarray, caps: np.ndarray
) -> np.ndarray:
    """Split each group's total over its items about ∝ weights, no item above its cap."""
    weights = np.maximum(np.asarray(weights, dtype=float), 1e-12)
    caps = np.asarray(caps, dtype=np.int64)
    x = np.zeros(len(group), dtype=np.int64)
    remaining = np.asarray(totals, dtype=np.int64).copy()
    while remaining.any():
        room = caps - x
        active = (room > 0) & (remaining[group] > 0)
        w = np.where(active, weights, 0.0)
        wsum = np.bincount(group, weights=w, minlength=len(remaining))
        if np.any((remaining > 0) & (wsum <= 0)):
            raise ValueError("not enough room to apportion")
        share = np.where(active, remaining[group] * w / np.where(wsum > 0, wsum, 1)[group], 0.0)
        add = np.minimum(np.floor(share).astype(np.int64), room)
        if not add.any():
            frac = np.where(active, share, -1.0)
            order = np.lexsort((-frac, group))
            g = group[order]
            first = np.searchsorted(g, g)
            rank = np.arange(len(g)) - first
            take = order[(rank < remaining[g]) & active[order]]
            add[take] = 1
        x += add
        remaining -= np.bincount(group, weights=add, minlength=len(remaining)).astype(np.int64)
    return x


def _kmeans(xy: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Weighted k-means (k-means++ start, a few Lloyd steps); returns the k centres."""
    p = w / w.sum()
    centres = [xy[rng.choice(len(xy), p=p)]]
    d2 = ((xy - centres[0]) ** 2).sum(axis=1)
    for _ in range(k - 1):
        q = w * d2
        centres.append(
            xy[rng.choice(len(xy), p=q / q.sum()) if q.sum() > 0 else rng.integers(len(xy))]
        )
        d2 = np.minimum(d2, ((xy - centres[-1]) ** 2).sum(axis=1))
    c = np.array(centres)
    for _ in range(12):
        nearest = np.argmin(((xy[:, None, :] - c[None, :, :]) ** 2).sum(axis=2), axis=1)
        mass = np.bincount(nearest, weights=w, minlength=k)
        moved = np.column_stack(
            [np.bincount(nearest, weights=w * xy[:, i], minlength=k) for i in (0, 1)]
        )
        filled = mass > 0
        c[filled] = moved[filled] / mass[filled, None]
    return c


def partition(
    parent: np.ndarray,
    k: np.ndarray,
    weight: np.ndarray,
    tess: Tessellation,
    rng: np.random.Generator,
    *,
    pinned: np.ndarray | None = None,
    closed: bool = False,
    rounds: int = 8,
) -> np.ndarray:
    """Split the blocks of each parent p into k[p] contiguous groups of about equal weight.

    Groups grow from k-means seeds by a multi-source Dijkstra over block adjacency (a graph
    Voronoi), so every group is connected; a few rounds shift each seed's head start until the
    weights balance, and boundary blocks then move to lighter neighbours. `pinned[b]` is the
    parent-local group block b must join (-1: free); with `closed`, pinned groups take no other
    block. Returns global group ids: group j of parent p is sum(k[:p]) + j.
    """
    n = len(parent)
    offsets = np.concatenate([[0], np.cumsum(k)[:-1]]).astype(np.int64)
    pinned = np.full(n, -1) if pinned is None else pinned
    xy = tess.centroids
    area = tess.areas
    pin_global = np.where(pinned >= 0, offsets[parent] + pinned, -1)
    is_closed = (pinned >= 0) & closed

    sources: list[tuple[int, int]] = [(int(g), int(b)) for b, g in enumerate(pin_global) if g >= 0]
    order = np.argsort(parent, kind="stable")
    bounds = np.searchsorted(parent[order], np.arange(len(k) + 1))
    for p in range(len(k)):
        members = order[bounds[p] : bounds[p + 1]]
        pinned_local = {int(x) for x in pinned[members] if x >= 0}
        free_groups = [j for j in range(int(k[p])) if j not in pinned_local]
        candidates = members[(pinned[members] < 0)]
        if not free_groups:
            continue
        if len(candidates) < len(free_groups):
            raise ValueError(
                f"parent {p}: {len(free_groups)} groups but {len(candidates)} free blocks"
            )
        centres = _kmeans(
            xy[candidates], weight[candidates] + 1e-6 * area[candidates], len(free_groups), rng
        )
        taken: set[int] = set()
        for j, c in zip(free_groups, centres, strict=True):
            dist = ((xy[candidates] - c) ** 2).sum(axis=1)
            for idx in np.argsort(dist, kind="stable").tolist():
                b = int(candidates[idx])
                if b not in taken:
                    taken.add(b)
                    sources.append((int(offsets[p] + j), b))
                    break

    a, b = tess.adj[:, 0], tess.adj[:, 1]
    inner = parent[a] == parent[b]
    ea, eb = a[inner], b[inner]
    elen = np.hypot(*(xy[ea] - xy[eb]).T)
    src = np.concatenate([ea, eb])
    dst = np.concatenate([eb, ea])
    ew = np.concatenate([elen, elen])
    o = np.argsort(src, kind="stable")
    indptr = np.searchsorted(src[o], np.arange(n + 1)).tolist()
    nbr, nw = dst[o].tolist(), ew[o].tolist()
    fixed = np.zeros(n, dtype=bool)
    for _, blk in sources:
        fixed[blk] = True
    fixed_l, closed_l = fixed.tolist(), is_closed.tolist()

    n_groups = int(k.sum())
    group_parent = np.repeat(np.arange(len(k)), k)
    head = np.zeros(n_groups)
    closed_groups = np.zeros(n_groups, dtype=bool)
    for blk in np.flatnonzero(is_closed):
        closed_groups[pin_global[blk]] = True
    parent_area = np.bincount(parent, weights=area, minlength=len(k))
    scale = np.sqrt(parent_area / np.maximum(k, 1))[group_parent]
    best = np.full(n, -1)
    best_score = np.full(len(k), np.inf)

    for _ in range(rounds):
        label = _grow(n, sources, head, indptr, nbr, nw, fixed_l, closed_l)
        label = _adopt_orphans(label, parent, xy, closed_groups)
        load = np.bincount(label, weights=weight, minlength=n_groups)
        open_load = np.where(closed_groups, 0.0, load)
        open_count = np.bincount(group_parent, weights=~closed_groups, minlength=len(k))
        target = (
            np.bincount(group_parent, weights=open_load, minlength=len(k))
            / np.maximum(open_count, 1)
        )[group_parent]
        ratio = np.where(closed_groups | (target <= 0), 1.0, load / np.maximum(target, 1e-9))
        score = np.zeros(len(k))
        np.maximum.at(score, group_parent, np.abs(ratio - 1))
        better = score < best_score
        best_score = np.where(better, score, best_score)
        take = better[parent]
        best[take] = label[take]
        head += 0.6 * scale * np.clip(ratio - 1, -0.8, 0.8)
    movable = pin_global < 0
    return _refine(best, ea.tolist(), eb.tolist(), weight, group_parent, closed_groups, movable)


def _grow(n, sources, head, indptr, nbr, nw, fixed, closed) -> np.ndarray:
    dist = [math.inf] * n
    label = [-1] * n
    heap = []
    for g, b in sources:
        d = float(head[g])
        if d < dist[b] or label[b] == -1:
            dist[b], label[b] = d, g
        heapq.heappush(heap, (d, b, g))
    while heap:
        d, b, g = heapq.heappop(heap)
        if label[b] != g or d > dist[b] or closed[b]:
            continue
        for e in range(indptr[b], indptr[b + 1]):
            c = nbr[e]
            if fixed[c]:
                continue
            nd = d + nw[e]
            if nd < dist[c]:
                dist[c], label[c] = nd, g
                heapq.heappush(heap, (nd, c, g))
    return np.array(label)


def _refine(
    label: np.ndarray,
    ea: list[int],
    eb: list[int],
    weight: np.ndarray,
    group_parent: np.ndarray,
    closed_groups: np.ndarray,
    movable: np.ndarray,
    passes: int = 12,
) -> np.ndarray:
    """Move boundary blocks to a lighter neighbouring group while that evens out the weights
    and leaves the group they leave connected."""
    label = label.copy()
    n_groups = len(group_parent)
    load = np.bincount(label, weights=weight, minlength=n_groups)
    open_load = np.where(closed_groups, 0.0, load)
    open_count = np.bincount(
        group_parent, weights=~closed_groups, minlength=int(group_parent.max()) + 1
    )
    target = (
        np.bincount(group_parent, weights=open_load, minlength=len(open_count))
        / np.maximum(open_count, 1)
    )[group_parent].tolist()
    load_l, weight_l, lab = load.tolist(), weight.tolist(), label.tolist()
    closed_l, movable_l = closed_groups.tolist(), movable.tolist()
    neighbours: dict[int, list[int]] = {}
    for a, b in zip(ea, eb, strict=True):
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    members: dict[int, set[int]] = {}
    for b, g in enumerate(lab):
        members.setdefault(g, set()).add(b)

    def stays_connected(block: int, group: int) -> bool:
        around = [c for c in neighbours.get(block, ()) if lab[c] == group]
        if not around:
            return False
        # Enough, and cheap: the block's neighbours in the group still reach each other
        # through the group within two steps of the block.
        # (Any path that left the group through the block re-enters through these neighbours.)
        near = {c for n in around for c in neighbours.get(n, ()) if lab[c] == group} | set(around)
        near.discard(block)
        if all(c in _reach(around[0], near, neighbours) for c in around):
            return True
        rest = members[group] - {block}
        return len(rest) <= 400 and len(_reach(around[0], rest, neighbours)) == len(rest)

    for _ in range(passes):
        moved = 0
        for a, b in zip(ea + eb, eb + ea, strict=True):
            src, dst = lab[a], lab[b]
            if src == dst or not movable_l[a] or closed_l[src] or closed_l[dst]:
                continue
            w, ts, td = weight_l[a], target[src], target[dst]
            before = (load_l[src] - ts) ** 2 / ts + (load_l[dst] - td) ** 2 / td
            after = (load_l[src] - w - ts) ** 2 / ts + (load_l[dst] + w - td) ** 2 / td
            if after >= before - 1e-9 or not stays_connected(a, src):
                continue
            lab[a] = dst
            members[src].discard(a)
            members[dst].add(a)
            load_l[src] -= w
            load_l[dst] += w
            moved += 1
        if not moved:
            break
    return np.array(lab)


def _reach(start: int, allowed: set[int], neighbours: dict[int, list[int]]) -> set[int]:
    """The blocks reachable from `start` through `allowed`."""
    seen, stack = {start}, [start]
    while stack:
        for c in neighbours.get(stack.pop(), ()):
            if c not in seen and c in allowed:
                seen.add(c)
                stack.append(c)
    return seen


def _adopt_orphans(
    label: np.ndarray, parent: np.ndarray, xy: np.ndarray, closed_groups: np.ndarray
) -> np.ndarray:
    """Blocks no seed could reach (a parent in several pieces) join the nearest open group."""
    for b in np.flatnonzero(label < 0).tolist():
        same = np.flatnonzero((parent == parent[b]) & (label >= 0))
        same = same[~closed_groups[label[same]]]
        if len(same):
            label[b] = label[same[np.argmin(((xy[same] - xy[b]) ** 2).sum(axis=1))]]
    return label


# --- units --------------------------------------------------------------------------------


def units_from_blocks(
    frame: LocalFrame,
    blocks_m: np.ndarray,
    chain: Sequence[np.ndarray],
    *,
    network_code: str,
    network_name: str,
    namers: Sequence[Callable[[list[int], str], list[str]]],
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The four levels as unions of blocks, coded and named; and the grid code of each block.

    `chain` holds each block's group at the segment, node and grid level (global ids, each
    group nested in one group of the level above). Children are coded in reading order
    (west→east, north→south); `namers[i](groups, parent_name)` names the children of one parent
    at level i+1, given in code order.
    """
    blocks = frame.to_wgs84(blocks_m)
    if not shapely.is_valid(blocks).all():
        raise ValueError("blocks are invalid after rounding; tessellate them with this frame")
    area_m = shapely.area(blocks_m)
    rows = [
        {
            "level": "network",
            "code": network_code,
            "name": network_name,
            "parent_code": None,
            "geometry": _union(blocks),
        }
    ]
    code_of: dict[tuple[int, int], str] = {}
    parent_codes = np.full(len(blocks), network_code, dtype=object)
    names_of_parent = {network_code: network_name}
    for depth, labels in enumerate(chain):
        level = LEVELS[depth + 1]
        groups = np.unique(labels)
        geoms, parents, areas = {}, {}, {}
        order = np.argsort(labels, kind="stable")
        starts = np.searchsorted(labels[order], np.append(groups, labels.max() + 1))
        for i, g in enumerate(groups.tolist()):
            members = order[starts[i] : starts[i + 1]]
            geoms[g] = _union(blocks[members])
            parents[g] = parent_codes[members[0]]
            areas[g] = area_m[members].sum()
        by_parent: dict[str, list[int]] = {}
        for g in groups.tolist():
            by_parent.setdefault(parents[g], []).append(g)
        level_rows = []
        for pcode in sorted(by_parent):
            siblings = by_parent[pcode]
            if len(siblings) > 999:
                raise ValueError(f"{pcode} would have {len(siblings)} children; codes allow 999")
            centroids = [
                tuple(shapely.get_coordinates(shapely.centroid(geoms[g]))[0]) for g in siblings
            ]
            row_height = math.sqrt(float(np.median([areas[g] for g in siblings])))
            ranked = [siblings[i] for i in codes.reading_order(centroids, row_height)]
            names = namers[depth](ranked, names_of_parent[pcode])
            for seq, (g, name) in enumerate(zip(ranked, names, strict=True), start=1):
                code = codes.child_code(pcode, seq)
                code_of[(depth, g)] = code
                names_of_parent[code] = name
                level_rows.append(
                    {
                        "level": level,
                        "code": code,
                        "name": name,
                        "parent_code": pcode,
                        "geometry": geoms[g],
                    }
                )
        parent_codes = np.array([code_of[(depth, int(g))] for g in labels], dtype=object)
        rows.extend(sorted(level_rows, key=lambda r: r["code"]))
    units = gpd.GeoDataFrame(rows, geometry="geometry", crs=WGS84)
    return units, parent_codes


def _union(polygons: np.ndarray) -> MultiPolygon:
    merged = polygons[0] if len(polygons) == 1 else shapely.coverage_union_all(polygons)
    merged = shapely.orient_polygons(merged)
    if isinstance(merged, Polygon):
        return MultiPolygon([merged])
    return MultiPolygon(list(shapely.get_parts(merged)))


# --- buildings ----------------------------------------------------------------------------

PARK, RESIDENTIAL, HIGH_RISE, COMMERCIAL, PUBLIC, INDUSTRIAL = range(6)
BUILDING_KIND = {
    RESIDENTIAL: "residential",
    HIGH_RISE: "residential",
    COMMERCIAL: "commercial",
    PUBLIC: "public",
    INDUSTRIAL: "industrial",
}


@dataclass
class Footprints:
    """Rectangular building footprints in metres, long side along the lattice's east-west axis."""

    block: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    length: np.ndarray
    depth: np.ndarray
    kind: np.ndarray  # Building.Kind values
    floors: np.ndarray
    units: np.ndarray
    rooms: np.ndarray  # dwellings per floor and stairwell (一梯几户); 0 for non-residential
    angle: float

    def __len__(self) -> int:
        return len(self.block)

    @property
    def capacity(self) -> np.ndarray:
        return self.units * self.floors * self.rooms

    def subset(self, mask: np.ndarray) -> Footprints:
        arrays = {k: v[mask] for k, v in self.__dict__.items() if isinstance(v, np.ndarray)}
        return Footprints(**arrays, angle=self.angle)

    def axes(self) -> tuple[np.ndarray, np.ndarray]:
        a = math.radians(self.angle)
        return np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])

    def local_points(self, idx: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Points at (u, v) half-lengths from the centre of footprints `idx`, in metres."""
        along, across = self.axes()
        du = (u * self.length[idx] / 2)[:, None] * along
        dv = (v * self.depth[idx] / 2)[:, None] * across
        return np.column_stack([self.cx[idx], self.cy[idx]]) + du + dv

    def polygons(self) -> np.ndarray:
        corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)], dtype=float)
        idx = np.repeat(np.arange(len(self)), 5)
        xy = self.local_points(
            idx, np.tile(corners[:, 0], len(self)), np.tile(corners[:, 1], len(self))
        )
        return shapely.polygons(xy.reshape(len(self), 5, 2))

    def frame(self, local: LocalFrame, keys, names, road, numbers) -> gpd.GeoDataFrame:
        """The buildings as a WGS84 GeoDataFrame with the columns the loader reads."""
        return gpd.GeoDataFrame(
            {
                "key": keys,
                "name": names,
                "road": road,
                "number": numbers,
                "kind": self.kind,
                "floors": self.floors,
                "units": self.units,
            },
            geometry=shapely.orient_polygons(local.to_wgs84(self.polygons())),
            crs=WGS84,
        )


def density_field(xy: np.ndarray, outline, rng: np.random.Generator) -> np.ndarray:
    """0..1: highest at the centre and a few sub-centres, falling off towards the edge."""
    radius = math.sqrt(outline.area / math.pi)
    centre = shapely.get_coordinates(outline.centroid)[0]
    field_ = np.exp(-((xy - centre) ** 2).sum(axis=1) / (2 * (0.55 * radius) ** 2))
    minx, miny, maxx, maxy = outline.bounds
    for _ in range(int(rng.integers(2, 5))):
        c = np.array([rng.uniform(minx, maxx), rng.uniform(miny, maxy)])
        a = rng.uniform(0.5, 0.8)
        field_ = np.maximum(
            field_, a * np.exp(-((xy - c) ** 2).sum(axis=1) / (2 * (0.25 * radius) ** 2))
        )
    return field_


def land_use(areas: np.ndarray, density: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A land use per block; denser blocks are more often commercial and high-rise."""
    n = len(areas)
    u = rng.random(n)
    edges = np.cumsum(
        np.column_stack(
            [np.full(n, 0.06), 0.07 * (1 - density), np.full(n, 0.10), 0.05 + 0.12 * density]
        ),
        axis=1,
    )
    use = np.full(n, RESIDENTIAL)
    use[u < edges[:, 3]] = COMMERCIAL
    use[u < edges[:, 2]] = PUBLIC
    use[u < edges[:, 1]] = INDUSTRIAL
    use[u < edges[:, 0]] = PARK
    use[(use == RESIDENTIAL) & (rng.random(n) < 0.08 + 0.45 * density)] = HIGH_RISE
    use[areas < 4000] = PARK
    return use


def place_buildings(
    tess: Tessellation,
    use: np.ndarray,
    density: np.ndarray,
    rng: np.random.Generator,
    angle: float,
    setback: float = 8.0,
) -> Footprints:
    """Rows of rectangles inside each block, `setback` metres from its edges, never overlapping.

    Candidates sit on a per-block regular layout (slabs facing south, as in northern China);
    only those wholly inside the block shrunk by the setback are kept.
    """
    nb = len(tess.blocks)
    inner = shapely.buffer(tess.blocks, -setback, join_style="mitre", mitre_limit=3.0)
    bounds = shapely.bounds(shapely.transform(inner, lambda c: rotate(c, -angle)))
    bounds = np.nan_to_num(bounds, nan=0.0)
    width, height = bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1]
    units = np.select(
        [use == RESIDENTIAL, use == HIGH_RISE], [rng.integers(2, 5, nb), rng.integers(1, 3, nb)], 1
    )
    length = np.select(
        [use == RESIDENTIAL, use == HIGH_RISE, use == COMMERCIAL, use == PUBLIC],
        [12.5 * units + 1, 17.0 * units + 2, rng.uniform(30, 55, nb), rng.uniform(40, 70, nb)],
        rng.uniform(50, 90, nb),
    )
    depth = np.select(
        [use == RESIDENTIAL, use == HIGH_RISE, use == COMMERCIAL, use == PUBLIC],
        [np.full(nb, 11.0), np.full(nb, 16.0), rng.uniform(20, 30, nb), rng.uniform(16, 24, nb)],
        rng.uniform(25, 40, nb),
    )
    gap_x = np.select([use == RESIDENTIAL, use == HIGH_RISE], [9.0, 22.0], 16.0)
    gap_y = np.select([use == RESIDENTIAL, use == HIGH_RISE], [16.0, 34.0], 18.0)
    nx = np.floor((width + gap_x) / (length + gap_x)).astype(np.int64)
    ny = np.floor((height + gap_y) / (depth + gap_y)).astype(np.int64)
    nx[(use == PARK) | (nx < 0)] = 0
    ny[(use == PARK) | (ny < 0)] = 0
    per_block = nx * ny
    block = np.repeat(np.arange(nb), per_block)
    k = np.arange(len(block)) - np.repeat(np.cumsum(per_block) - per_block, per_block)
    i, j = k % nx[block], k // nx[block]
    slack_x = width - (nx * length + (nx - 1) * gap_x)
    slack_y = height - (ny * depth + (ny - 1) * gap_y)
    x0 = bounds[:, 0] + slack_x * rng.uniform(0.3, 0.7, nb)
    y0 = bounds[:, 1] + slack_y * rng.uniform(0.3, 0.7, nb)
    local = np.column_stack(
        [
            x0[block] + i * (length + gap_x)[block] + length[block] / 2,
            y0[block] + j * (depth + gap_y)[block] + depth[block] / 2,
        ]
    )
    centre = rotate(local, angle)
    b_use = use[block]
    residential = (b_use == RESIDENTIAL) | (b_use == HIGH_RISE)
    nbld = len(block)
    floors = np.select(
        [b_use == RESIDENTIAL, b_use == HIGH_RISE, b_use == COMMERCIAL, b_use == PUBLIC],
        [
            rng.integers(5, 8, nbld),
            11 + np.round(22 * density[block] * rng.random(nbld)).astype(np.int64),
            rng.integers(2, 9, nbld),
            rng.integers(2, 6, nbld),
        ],
        rng.integers(1, 3, nbld),
    )
    rooms = np.where(b_use == HIGH_RISE, np.where(units[block] == 1, 4, 3), 0)
    rooms = np.where(b_use == RESIDENTIAL, np.where(rng.random(nbld) < 0.3, 3, 2), rooms)
    fp = Footprints(
        block=block,
        cx=centre[:, 0],
        cy=centre[:, 1],
        length=length[block],
        depth=depth[block],
        kind=np.array([BUILDING_KIND[u] for u in b_use.tolist()], dtype=object),
        floors=floors.astype(np.int64),
        units=np.where(residential, units[block], 1).astype(np.int64),
        rooms=rooms.astype(np.int64),
        angle=angle,
    )
    # In chunks: a large city has millions of candidates and only some are kept.
    keep = np.zeros(len(fp), dtype=bool)
    for start in range(0, len(fp), 200_000):
        part = np.arange(start, min(start + 200_000, len(fp)))
        mask = np.zeros(len(fp), dtype=bool)
        mask[part] = True
        keep[part] = shapely.contains_properly(inner[block[part]], fp.subset(mask).polygons())
    return fp.subset(keep)


def fit_capacity(
    fp: Footprints,
    households: int,
    density: np.ndarray,
    rng: np.random.Generator,
    *,
    block_limit: float,
    occupancy: float = 0.85,
) -> Footprints:
    """Thin or raise the residential buildings until they hold `households` at about `occupancy`.

    Each residential block gets a quota of dwellings by density, at most `block_limit` (so that
    no block outweighs a grid), and keeps buildings in random order until the quota is reached;
    if that is still too little, floors are added up to 33.
    """
    residential = fp.rooms > 0
    n_blocks = int(fp.block.max()) + 1 if len(fp) else 0
    block_capacity = np.bincount(fp.block, weights=fp.capacity, minlength=n_blocks)
    has_homes = block_capacity > 0
    want = households / occupancy
    share = np.where(has_homes, 0.4 + density[:n_blocks], 0.0)
    quota = np.minimum(block_capacity, block_limit)
    for _ in range(20):
        scale = want / max(share @ np.ones(n_blocks), 1e-9)
        quota = np.minimum(np.minimum(block_capacity, block_limit), share * scale)
        short = want - quota.sum()
        if short <= 1 or not (quota < np.minimum(block_capacity, block_limit)).any():
            break
        room = quota < np.minimum(block_capacity, block_limit) - 1e-9
        share = np.where(room, share * (1 + short / max(quota[room].sum(), 1e-9)), share)
    order = np.lexsort((rng.random(len(fp)), fp.block))
    cap_sorted = np.where(residential, fp.capacity, 0)[order]
    block_sorted = fp.block[order]
    before = np.cumsum(cap_sorted) - cap_sorted
    first = np.searchsorted(block_sorted, block_sorted)
    before -= before[first]
    # Non-residential blocks keep one to four buildings: a school, a market hall, a depot.
    rank = np.arange(len(order)) - first
    others = rng.integers(1, 5, n_blocks)[block_sorted]
    keep = np.ones(len(fp), dtype=bool)
    keep[order] = np.where(residential[order], before < quota[block_sorted], rank < others)
    fp = fp.subset(keep)
    residential = fp.rooms > 0
    for _ in range(12):
        capacity = fp.capacity[residential].sum()
        if capacity >= households / 0.95 or not residential.any():
            break
        factor = min(2.0, want / capacity)
        floors = np.minimum(33, np.ceil(fp.floors * factor)).astype(np.int64)
        fp.floors = np.where(residential, floors, fp.floors)
        if (fp.floors[residential] >= 33).all():
            fp.rooms = np.where(residential, 4, 0)
    if fp.capacity.sum() < households:
        raise ValueError(
            f"the outline holds at most {fp.capacity.sum()} households; {households} asked for"
        )
    return fp


# --- addresses and roads --------------------------------------------------------------------


def road_pieces(tess: Tessellation, named_only: bool = False) -> np.ndarray:
    """Indices of the tessellation pieces that are roads (not the outline or a fence)."""
    kinds = np.array([ln.kind for ln in tess.lines] + [""])
    names = np.array([ln.name for ln in tess.lines] + [""])
    keep = (kinds[tess.piece_line] != "") & (shapely.length(tess.pieces) >= 1.0)
    if named_only:
        keep &= names[tess.piece_line] != ""
    return np.flatnonzero(keep)


def addresses(
    tess: Tessellation, x: np.ndarray, y: np.ndarray, allowed: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Road and house number of each point: the nearest named road, odd numbers on its left,
    even on its right, counted along the road."""
    candidates = road_pieces(tess, named_only=True)
    if allowed is not None:
        names = np.array([tess.lines[i].name for i in tess.piece_line[candidates]])
        candidates = candidates[np.isin(names, list(allowed))]
    points = shapely.points(x, y)
    tree = shapely.STRtree(tess.pieces[candidates])
    pairs = tree.query_nearest(points, all_matches=False)
    line = np.empty(len(points), dtype=np.int64)
    line[pairs[0]] = tess.piece_line[candidates[pairs[1]]]
    geoms = np.array([ln.geom for ln in tess.lines], dtype=object)[line]
    pos = shapely.line_locate_point(geoms, points)
    ahead = shapely.get_coordinates(shapely.line_interpolate_point(geoms, pos + 1.0))
    behind = shapely.get_coordinates(shapely.line_interpolate_point(geoms, pos - 1.0))
    d = ahead - behind
    cross = d[:, 0] * (y - behind[:, 1]) - d[:, 1] * (x - behind[:, 0])
    right = (cross < 0).astype(np.int64)
    frame = pd.DataFrame({"line": line, "right": right, "pos": pos, "i": np.arange(len(points))})
    frame = frame.sort_values(["line", "right", "pos", "i"], kind="stable")
    rank = frame.groupby(["line", "right"], sort=False).cumcount().to_numpy()
    number = np.empty(len(points), dtype=np.int64)
    number[frame["i"].to_numpy()] = 2 * rank + 1 + frame["right"].to_numpy()
    road = np.array([ln.name for ln in tess.lines], dtype=object)[line]
    return road, number


def roads_frame(frame: LocalFrame, tess: Tessellation) -> gpd.GeoDataFrame:
    idx = road_pieces(tess)
    lines = tess.lines
    return gpd.GeoDataFrame(
        {
            "name": [lines[i].name for i in tess.piece_line[idx]],
            "kind": [lines[i].kind for i in tess.piece_line[idx]],
            "walkable": True,
        },
        geometry=frame.to_wgs84(tess.pieces[idx]),
        crs=WGS84,
    )


# --- households ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HouseholdProfile:
    """How households of a place are made up; the defaults are a typical Chinese city."""

    residents_p: tuple[float, ...] = (0.18, 0.32, 0.27, 0.13, 0.07, 0.03)  # 1..6 people
    elderly_only: float = 0.14  # households of people aged 60+ only
    with_elderly: float = 0.16  # younger households with one or two aged 60+
    floating: float = 0.08  # households of floating population (流动人口)
    party_old: float = 0.10
    party_young: float = 0.05
    disabled_old: float = 0.05
    disabled_young: float = 0.01
    unemployed: float = 0.01
    retired_old: float = 0.85
    retired_young: float = 0.03


def household_members(
    n: int, rng: np.random.Generator, profile: HouseholdProfile
) -> dict[str, np.ndarray]:
    """Residents and category counts of `n` households; every count is at most residents."""
    p = np.asarray(profile.residents_p) / sum(profile.residents_p)
    residents = rng.choice(np.arange(1, len(p) + 1), n, p=p)
    kind = rng.random(n)
    elderly_only = (kind < profile.elderly_only) & (residents <= 3)
    with_elderly = (
        ~elderly_only & (kind < profile.elderly_only + profile.with_elderly) & (residents >= 2)
    )
    aged = np.where(elderly_only, residents, 0)
    aged = np.where(with_elderly, np.minimum(rng.integers(1, 3, n), residents - 1), aged)
    young = residents - aged
    floating = np.where(~elderly_only & (rng.random(n) < profile.floating), young, 0)
    return {
        "residents": residents,
        "aged_60_plus": aged,
        "disabled": rng.binomial(aged, profile.disabled_old)
        + rng.binomial(young, profile.disabled_young),
        "floating": floating,
        "retired": rng.binomial(aged, profile.retired_old)
        + rng.binomial(young, profile.retired_young),
        "unemployed": rng.binomial(young - floating, profile.unemployed)
        + rng.binomial(floating, profile.unemployed),
        "party_members": rng.binomial(aged, profile.party_old)
        + rng.binomial(young, profile.party_young),
    }


def five_colors(members: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Five-color classes in exact shares (1/3/7/15 % and green), the most vulnerable first:
    disability, old age (alone above all), unemployment push a household towards red."""
    n = len(members["residents"])
    aged, residents = members["aged_60_plus"], members["residents"]
    score = (
        rng.random(n)
        + 1.6 * (members["disabled"] > 0)
        + 0.7 * (aged > 0)
        + 0.4 * ((aged == residents) & (residents == 1))
        + 0.5 * (members["unemployed"] > 0)
    )
    order = np.argsort(-score, kind="stable")
    counts = [round(share * n) for share in COLOR_SHARES]
    color = np.full(n, "green", dtype=object)
    start = 0
    for name, count in zip(COLORS, counts, strict=False):
        color[order[start : start + count]] = name
        start += count
    return color


def household_rows(
    fp: Footprints,
    per_building: np.ndarray,
    keys: np.ndarray,
    rng: np.random.Generator,
    profile: HouseholdProfile = HouseholdProfile(),
) -> tuple[pd.DataFrame, np.ndarray]:
    """`per_building[b]` households in building b, each in its own flat (unit, floor, room).

    Returns the rows and the footprint index of each row (for points inside the footprint).
    """
    capacity = fp.capacity
    starts = np.cumsum(capacity) - capacity
    slot_building = np.repeat(np.arange(len(fp)), capacity)
    order = np.lexsort((rng.random(len(slot_building)), slot_building))
    sorted_building = slot_building[order]
    rank = np.arange(len(order)) - starts[sorted_building]
    chosen = order[rank < per_building[sorted_building]]
    building = slot_building[chosen]
    local = chosen - starts[building]
    tidy = np.lexsort((local, building))
    building, local = building[tidy], local[tidy]
    per_unit = fp.floors[building] * fp.rooms[building]
    unit_no = local // per_unit + 1
    floor = (local % per_unit) // fp.rooms[building] + 1
    room = floor * 100 + local % fp.rooms[building] + 1
    n = len(building)
    members = household_members(n, rng, profile)
    rows = pd.DataFrame(
        {
            "building_key": keys[building],
            "unit_no": unit_no,
            "floor": floor,
            "room": room.astype(str).astype(object),
            "residents": members["residents"],
            "color": five_colors(members, rng),
            **{f: members[f] for f in CATEGORY_FIELDS},
            "head_name": person_names(n, rng),
            "head_phone": fictitious_phones(n, rng),
            "lon": np.nan,
            "lat": np.nan,
        }
    )
    return rows, building


# --- cameras, facilities, staff -------------------------------------------------------------

CAMERA_STATUS = ("online", "offline", "fault")


def camera_specs(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Field of view, range and status: mostly 60–120° bullets, some 360° domes, mostly online."""
    dome = rng.random(n) < 0.12
    return {
        "fov": np.where(dome, 360.0, rng.integers(60, 121, n).astype(float)),
        "range_m": np.where(dome, rng.integers(30, 61, n), rng.integers(40, 121, n)).astype(float),
        "status": np.array(CAMERA_STATUS, dtype=object)[rng.choice(3, n, p=[0.92, 0.05, 0.03])],
    }


def cameras_for(
    frame: LocalFrame,
    outline,
    tess: Tessellation,
    fp: Footprints,
    building_address: np.ndarray,
    network_code: str,
    rng: np.random.Generator,
    target: int,
) -> gpd.GeoDataFrame:
    """Cameras on poles a few metres into the corners of crossings, and over building entrances."""
    idx = road_pieces(tess)
    ends = np.concatenate(
        [shapely.get_coordinates(shapely.get_point(tess.pieces[idx], i)) for i in (0, -1)]
    )
    road_names = np.array([ln.name for ln in tess.lines], dtype=object)[
        np.tile(tess.piece_line[idx], 2)
    ]
    key = np.round(ends, 2)
    nodes, inverse, degree = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    crossings = np.flatnonzero(degree >= 3)
    at = pd.DataFrame({"node": inverse.ravel(), "road": road_names}).drop_duplicates()
    at = at[at["road"] != ""].groupby("node")["road"].agg(lambda s: "与".join(sorted(s)[:2]))

    # A pole goes 7 m into one corner of the crossing; near the edge of the city that corner
    # may lie outside it, so only crossings with all four corners inside qualify.
    along, across = fp.axes()
    diagonals = np.array([along + across, along - across, -along + across, -along - across]) * 7.0
    corners_inside = np.ones(len(crossings), dtype=bool)
    for d in diagonals:
        corners_inside &= shapely.covers(outline, shapely.points(nodes[crossings] + d))
    crossings = crossings[corners_inside]
    n_corner = min(len(crossings), target // 2)
    corner = np.sort(rng.choice(crossings, n_corner, replace=False))
    sx, sy = rng.choice([-1, 1], n_corner), rng.choice([-1, 1], n_corner)
    corner_xy = nodes[corner] + 7.0 * (sx[:, None] * along + sy[:, None] * across)
    look = np.where(
        (rng.random(n_corner) < 0.5)[:, None], -sx[:, None] * along, -sy[:, None] * across
    )
    corner_names = np.array([f"{at.get(c, '路口')}路口" for c in corner.tolist()], dtype=object)

    n_door = min(len(fp), target - n_corner)
    weights = np.where(fp.kind == "residential", 1.0, 3.0)
    door = np.sort(rng.choice(len(fp), n_door, replace=False, p=weights / weights.sum()))
    door_xy = fp.local_points(door, np.zeros(n_door), np.full(n_door, -1.0)) - 3.0 * across
    door_look = np.tile(-across, (n_door, 1))
    door_names = np.char.add(building_address[door].astype(str), "入口").astype(object)

    xy = np.concatenate([corner_xy, door_xy])
    direction = np.concatenate([look, door_look])
    n = len(xy)
    bearing = (compass_bearing(direction[:, 0], direction[:, 1]) + rng.normal(0, 8, n)) % 360.0
    lon, lat = frame.lonlat(xy[:, 0], xy[:, 1])
    return gpd.GeoDataFrame(
        {
            "code": [f"{network_code}C{i:07d}" for i in range(1, n + 1)],
            "name": np.concatenate([corner_names, door_names]),
            "bearing": np.round(bearing, 1),
            **camera_specs(n, rng),
        },
        geometry=shapely.points(lon, lat),
        crs=WGS84,
    )


# (kind, name template, probability per unit, building kinds preferred)
NODE_FACILITIES = (
    ("committee", "{node}居民委员会", 1.0, ("public",)),
    ("party", "{node}党群服务中心", 1.0, ("public",)),
    ("medical", "{node}卫生服务站", 0.7, ("public", "commercial")),
    ("elderly", "{node}日间照料中心", 0.55, ("public", "residential")),
    ("education", "{word}幼儿园", 0.6, ("public",)),
    ("culture", "{node}文化活动室", 0.35, ("public",)),
    ("sports", "{node}健身广场", 0.25, ("public",)),
    ("recreation", "{word}棋牌室", 0.3, ("commercial",)),
    ("commerce", "{word}超市", 1.0, ("commercial",)),
    ("commerce", "{word}便利店", 0.8, ("commercial", "residential")),
)
SEGMENT_FACILITIES = (
    ("government", "{segment}便民服务中心", 1.0, ("public",)),
    ("medical", "{segment}社区卫生服务中心", 1.0, ("public",)),
    ("education", "{word}小学", 1.0, ("public",)),
    ("education", "{word}中学", 0.6, ("public",)),
    ("culture", "{segment}综合文化站", 0.8, ("public",)),
    ("sports", "{segment}全民健身中心", 0.5, ("public",)),
    ("recreation", "{word}公园", 0.6, ("public", "commercial")),
    ("commerce", "{word}农贸市场", 0.8, ("commercial",)),
)


def facilities_for(
    frame: LocalFrame,
    fp: Footprints,
    building_grid: np.ndarray,
    building_address: np.ndarray,
    units: gpd.GeoDataFrame,
    rng: np.random.Generator,
) -> gpd.GeoDataFrame:
    """All ten kinds: committee and party centre in every community, the rest more sparsely,
    each in a building of a fitting kind inside its community or street office."""
    name_of = dict(zip(units["code"], units["name"], strict=True))
    rows = []
    for level, table, width in (("node", NODE_FACILITIES, 12), ("segment", SEGMENT_FACILITIES, 9)):
        prefix = np.array([c[:width] for c in building_grid], dtype=object)
        order = np.argsort(prefix, kind="stable")
        sorted_prefix = prefix[order]
        for code in units.loc[units["level"] == level, "code"].tolist():
            lo, hi = np.searchsorted(sorted_prefix, [code, code + "~"])
            inside = order[lo:hi]
            if not len(inside):
                continue
            held: int | None = None
            for kind, template, p, prefer in table:
                if rng.random() >= p:
                    continue
                fitting = inside[np.isin(fp.kind[inside], prefer)]
                pool = fitting if len(fitting) else inside
                b = int(pool[rng.integers(len(pool))])
                if kind == "party" and held is not None:
                    b = held  # the party centre shares the committee's building (社区服务中心)
                held = b if kind == "committee" else held
                word = PLACE_WORDS[int(rng.integers(len(PLACE_WORDS)))]
                node = name_of.get(code, "") if level == "node" else ""
                segment = name_of.get(code, "") if level == "segment" else ""
                rows.append((kind, template.format(node=node, segment=segment, word=word), b))
    kinds, names, b = zip(*rows, strict=True) if rows else ((), (), ())
    b = np.asarray(b, dtype=np.int64)
    xy = np.column_stack([fp.cx[b], fp.cy[b]]) if len(b) else np.empty((0, 2))
    lon, lat = frame.lonlat(xy[:, 0], xy[:, 1])
    return gpd.GeoDataFrame(
        {"kind": list(kinds), "name": list(names), "address": building_address[b].tolist()},
        geometry=shapely.points(lon, lat),
        crs=WGS84,
    )


def staff_for(units: gpd.GeoDataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Per grid 1 leader + 1 instructor + 1 full-time worker + 1–3 part-time members (seed 002);
    per community one lead. Names and phones are fictitious."""
    grids = units.loc[units["level"] == "grid", "code"].to_numpy()
    part = rng.integers(1, 4, len(grids))
    roles, unit_codes = [], []
    for code, k in zip(grids.tolist(), part.tolist(), strict=True):
        unit_codes += [code] * (3 + k)
        roles += ["grid_leader", "grid_instructor", "full_time_worker"] + ["part_time_member"] * k
    nodes = units.loc[units["level"] == "node", "code"].tolist()
    unit_codes += nodes
    roles += ["community_lead"] * len(nodes)
    n = len(roles)
    return pd.DataFrame(
        {
            "unit_code": unit_codes,
            "role": roles,
            "name": person_names(n, rng),
            "phone": fictitious_phones(n, rng, prefix="1390000"),
        }
    )


# --- the whole city -------------------------------------------------------------------------


def synthetic_outline(lon: float, lat: float, area_km2: float, seed: int) -> Polygon:
    """An irregular blob of about `area_km2` around (lon, lat), WGS84: a stand-in city outline."""
    rng = np.random.default_rng(seed)
    theta = np.linspace(0, 2 * math.pi, 181)[:-1]
    r = np.ones_like(theta)
    for k in range(2, 6):
        r += rng.uniform(0.02, 0.08) * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
    frame = LocalFrame(lon, lat)
    shape = Polygon(np.column_stack([r * np.cos(theta), r * np.sin(theta)]))
    scale = math.sqrt(area_km2 * 1e6 / shape.area)
    metric = shapely.transform(shape, lambda c: c * scale)
    return frame.to_wgs84(metric)


def generate_city(
    *,
    network_code: str,
    network_name: str,
    outline_wgs84,
    households: int,
    segments: int,
    nodes: int,
    grid_target: int = 250,
    seed: int,
    household_points: bool = False,
    grids: int | None = None,
    segment_names: Sequence[str] | None = None,
) -> City:
    """A whole city inside `outline_wgs84`: `segments` street offices, `nodes` communities,
    grids of about `grid_target` households each (or exactly `grids` grids), and exactly
    `households` households. The same arguments always give the same city."""
    codes.validate_code(network_code, "network", None)
    rng = np.random.default_rng(seed)
    frame = LocalFrame.around(outline_wgs84)
    outline = shapely.make_valid(frame.to_metric(outline_wgs84))
    n_grids = grids or max(1, round(households / grid_target))
    spacing = float(np.clip(math.sqrt(outline.area / (3.5 * n_grids)), 150.0, 250.0))
    if outline.area / spacing**2 < 1.5 * n_grids:
        raise ValueError(
            f"an outline of {outline.area / 1e6:.1f} km² is too small for {n_grids} grids"
        )
    angle = float(rng.uniform(-15, 15))
    lines = street_lattice(outline, rng, spacing=spacing, angle=angle)
    tess = tessellate(outline, lines, rng, min_area=0.12 * spacing**2, frame=frame)
    n_blocks = len(tess.blocks)
    density = density_field(tess.centroids, outline, rng)
    use = land_use(tess.areas, density, rng)
    fp = fit_capacity(
        place_buildings(tess, use, density, rng, angle),
        households,
        density,
        rng,
        block_limit=0.6 * households / n_grids / 0.85,
    )
    weight = np.bincount(fp.block, weights=fp.capacity, minlength=n_blocks).astype(float)

    segment = partition(np.zeros(n_blocks, dtype=np.int64), np.array([segments]), weight, tess, rng)
    seg_weight = np.bincount(segment, weights=weight, minlength=segments)
    seg_blocks = np.bincount(segment, minlength=segments)
    k_nodes = apportion(nodes, seg_weight, np.ones(segments), np.minimum(seg_blocks, 999))
    node = partition(segment, k_nodes, weight, tess, rng)
    node_weight = np.bincount(node, weights=weight, minlength=nodes)
    node_blocks = np.bincount(node, minlength=nodes)
    room = np.minimum(node_blocks, 999)
    if grids is not None:
        k_grids = apportion(grids, node_weight + 1e-9, np.ones(nodes), room)
    else:
        estimate = households * node_weight / node_weight.sum() / grid_target
        k_grids = np.clip(np.round(estimate), 1, room).astype(np.int64)
    grid = partition(node, k_grids, weight, tess, rng)

    segment_pool = iter(segment_names or unique_names(segments, rng, "{}街道"))
    node_pool = iter(unique_names(nodes, rng, "{}社区"))
    units, grid_code = units_from_blocks(
        frame,
        tess.blocks,
        [segment, node, grid],
        network_code=network_code,
        network_name=network_name,
        namers=[
            lambda groups, parent: [next(segment_pool) for _ in groups],
            lambda groups, parent: [next(node_pool) for _ in groups],
            lambda groups, parent: [f"{parent}第{i}网格" for i in range(1, len(groups) + 1)],
        ],
    )

    # Households: about the same number in every grid (what grids are cut for), as far as its
    # buildings hold them, then spread over its buildings by their size.
    n_grid_groups = int(k_grids.sum())
    building_grid = grid[fp.block]
    grid_capacity = np.bincount(building_grid, weights=fp.capacity, minlength=n_grid_groups)
    per_grid = apportion(
        households,
        rng.lognormal(0, 0.08, n_grid_groups) * (grid_capacity > 0),
        np.zeros(n_grid_groups),
        np.floor(0.97 * grid_capacity).astype(np.int64),
    )
    per_building = apportion_grouped(
        per_grid, building_grid, fp.capacity * rng.uniform(0.7, 1.0, len(fp)), fp.capacity
    )
    keys = np.array([f"{network_code}-{i:06d}" for i in range(1, len(fp) + 1)], dtype=object)
    road, number = addresses(tess, fp.cx, fp.cy)
    numbers = np.char.add(number.astype(str), "号").astype(object)
    address = np.char.add(road.astype(str), numbers.astype(str)).astype(object)
    buildings = fp.frame(frame, keys, "", road, numbers)
    rows, home = household_rows(fp, per_building, keys, rng)
    if household_points:
        xy = fp.local_points(
            home, rng.uniform(-0.8, 0.8, len(home)), rng.uniform(-0.8, 0.8, len(home))
        )
        rows["lon"], rows["lat"] = frame.lonlat(xy[:, 0], xy[:, 1])
    cameras = cameras_for(
        frame, outline, tess, fp, address, network_code, rng, target=max(10, households // 35)
    )
    facilities = facilities_for(frame, fp, grid_code[fp.block], address, units, rng)
    return City(
        network_code=network_code,
        network_name=network_name,
        grid_target=grid_target,
        units=units,
        staff=staff_for(units, rng),
        buildings=buildings,
        households=rows,
        cameras=cameras,
        facilities=facilities,
        roads=roads_frame(frame, tess),
    )
