"""File import (数据导入) of grid units and map layers from what city platforms hand out: GeoJSON,
GeoPackage, zipped Shapefiles (attribute text in GBK or UTF-8) and CSV, in WGS84, CGCS2000, Web
Mercator, CGCS2000 Gauss–Krüger, GCJ-02 or BD-09.

A dry run unless committed. Both run the same transaction — read, validate, write, reassign,
check the topology — and a dry run rolls it back, so its report is what the commit does
(preview = commit); a commit with any error is rolled back too, so a broken file imports nothing.
"""

from __future__ import annotations

import codecs
import importlib
import io
import math
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone, translation
from pyproj import CRS as ProjCRS
from pyproj.exceptions import CRSError
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from gridmap import audit, codes, coords, topology
from gridmap.assignment import assign, assign_all
from gridmap.geometry import (
    GeometryError,
    area_m2,
    check_valid,
    point_where,
    polygonal,
    to_geos,
    to_shapely,
)
from gridmap.models import GridAssigned, GridUnit
from layers import coverage
from layers.models import Building, Camera, Facility, Household, Road
from layers.services import walknet
from layers.services.address import ADDRESS_KEY_SQL, normalize_address


class _OnFirstUse:
    """A module imported when first used: geopandas, pandas and pyogrio are tens of megabytes
    that every web worker would otherwise carry, and only an import reads files."""

    def __init__(self, name: str, alias: str) -> None:
        self._name, self._alias = name, alias

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self._name)
        globals()[self._alias] = module  # later uses go to the module itself
        return getattr(module, attr)


gpd: Any = _OnFirstUse("geopandas", "gpd")
pd: Any = _OnFirstUse("pandas", "pd")
pyogrio: Any = _OnFirstUse("pyogrio", "pyogrio")

# Uploads and unpacked archives larger than this are refused (a zip bomb unpacks to terabytes).
MAX_FILE_BYTES = 200 * 1024 * 1024
# A boundary that moved by less than this (degrees, about 10 cm) is unchanged: coordinates that
# went through a projection and back differ in the last digits.
SAME_GEOMETRY_DEG = 1e-6
# An imported point this close to an existing facility of the same kind may be a duplicate.
DUPLICATE_DISTANCE_M = 5.0

LEVEL_ORDER = {level: i for i, level in enumerate(codes.LEVELS)}
FORMATS = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GeoPackage",
    ".shp": "Shapefile",
    ".zip": "Shapefile",
    ".csv": "CSV",
    ".xlsx": "XLSX",
}
# Tables without geometry (coordinates or addresses in columns): only where `csv` is allowed.
_TABLE_SUFFIXES = (".csv", ".xlsx")
_TABLE_FORMATS = ("CSV", "XLSX")
# Code pages as .cpg files and users name them → the Python codec. GB18030 decodes every GBK and
# GB2312 text, so the whole family is read with it.
_CODEC_ALIASES = {
    "65001": "utf-8",
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "936": "gb18030",
    "cp936": "gb18030",
    "ansi 936": "gb18030",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "gb18030": "gb18030",
}
_TRUE = {"1", "true", "t", "yes", "y", "是"}
_FALSE = {"0", "false", "f", "no", "n", "否"}


class ImportFileError(ValueError):
    """A file that cannot be imported at all — unreadable, no CRS, a field that is not there:
    `code`, a bilingual `detail` and `where` (an option name, or a place)."""

    def __init__(self, code: str, detail: str, where: Any = None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.where = where


@dataclass(frozen=True)
class ImportOptions:
    """How to read a file and what to do with it (the command's and the API's options)."""

    crs: str | None = None  # None: the file's own
    encoding: str | None = None  # None: the .cpg's, else detected (UTF-8, else GB18030)
    layer: str | None = None  # a GeoPackage layer, or which shapefile of a zip
    fields: dict[str, str] = field(default_factory=dict)  # target → the file's field
    lon_field: str | None = None  # CSV
    lat_field: str | None = None
    address_field: str | None = None
    fix_invalid: bool = False
    commit: bool = False


# --- the report ------------------------------------------------------------------------------


@dataclass
class Problem:
    """Something wrong with a feature (or, from the topology check, between units). Errors stop
    the commit, warnings do not. `feature` is the 1-based position of the feature in the file."""

    feature: int | None
    code: str | None
    error: str
    detail: str
    point: list[float] | None = None
    severity: str = "error"
    area_m2: float | None = None


@dataclass
class Fix:
    """An invalid polygon repaired with make-valid (--fix-invalid)."""

    feature: int
    code: str | None
    reason: str
    area_m2_before: float
    area_m2_after: float
    point: list[float] | None


@dataclass
class ImportReport:
    """What an import found and did (or, in a dry run, would do)."""

    kind: str  # "units" or a layer name
    file: dict[str, Any]
    encoding: dict[str, str] | None
    crs: dict[str, Any]
    fields: dict[str, str | None]
    level: str | None = None
    commit: bool = False
    committed: bool = False
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    items: list[dict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    fixed: list[Fix] = field(default_factory=list)
    topology: list[Problem] = field(default_factory=list)
    reassignment: dict[str, dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(p.severity == "error" for p in [*self.problems, *self.topology])

    @property
    def warnings(self) -> int:
        return sum(p.severity == "warning" for p in [*self.problems, *self.topology])

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def problem(self, feature: int | None, code: str | None, error: str, detail: str, **kw) -> None:
        self.problems.append(Problem(feature, code, error, detail, **kw))

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "level": self.level,
            "file": self.file,
            "encoding": self.encoding,
            "crs": self.crs,
            "fields": self.fields,
            "commit": self.commit,
            "committed": self.committed,
            "ok": self.ok,
            "counts": {
                "features": self.file.get("features", 0),
                "created": self.created,
                "changed": self.changed,
                "unchanged": self.unchanged,
                "fixed": len(self.fixed),
                "errors": self.errors,
                "warnings": self.warnings,
            },
            "items": self.items,
            "problems": [asdict(p) for p in self.problems],
            "fixed": [asdict(f) for f in self.fixed],
            "topology": [asdict(p) for p in self.topology],
            "reassignment": self.reassignment,
            "notes": self.notes,
        }


# --- reading ---------------------------------------------------------------------------------


@dataclass
class Table:
    """A file's features as read: attributes, geometries in the file's CRS, how it was decoded."""

    name: str
    format: str
    layer: str | None
    frame: pd.DataFrame
    geometry: gpd.GeoSeries | None
    crs: ProjCRS | None
    encoding: dict[str, str] | None
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        geometry = self.frame.geometry.name if isinstance(self.frame, gpd.GeoDataFrame) else None
        return [str(c) for c in self.frame.columns if c != geometry]


def read_table(
    path: Path | str, options: ImportOptions, *, csv: bool = False, name: str | None = None
) -> Table:
    """Read a GeoJSON, GeoPackage, Shapefile (.shp beside its parts, or a .zip of them) or, with
    `csv`, a CSV file. `name` is the file's own name when `path` is a temporary copy."""
    path = Path(path)
    name = name or path.name
    suffix = Path(name).suffix.lower()
    if not path.is_file():
        raise ImportFileError("file_not_found", f"找不到文件 {name} / no such file: {name}", "file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ImportFileError("file_too_large", _too_large(name), "file")
    if suffix not in FORMATS or (suffix in _TABLE_SUFFIXES and not csv):
        kinds = ", ".join(s for s in FORMATS if csv or s not in _TABLE_SUFFIXES)
        raise ImportFileError(
            "unsupported_format",
            f"不支持的文件类型 '{suffix or name}'，可用：{kinds} / unsupported file type "
            f"'{suffix or name}'; use one of: {kinds}",
            "file",
        )
    if suffix == ".zip":
        return _read_zip(path, options, name)
    if suffix == ".csv":
        return _read_csv(path, options, name)
    if suffix == ".xlsx":
        return _read_xlsx(path, options, name)
    return _read_vector(path, options, name)


def _too_large(name: str) -> str:
    mb = MAX_FILE_BYTES // (1024 * 1024)
    return f"文件 {name} 超过 {mb} MB / {name} is larger than {mb} MB"


def _read_zip(path: Path, options: ImportOptions, name: str) -> Table:
    broken = ImportFileError(
        "broken_zip",
        f"压缩包 {name} 已损坏或不完整（可能上传中断），请重新打包 / the zip file {name} is "
        "broken or truncated (an interrupted upload?); pack it again",
        "file",
    )
    try:
        with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as tmp:
            members = [
                m
                for m in archive.infolist()
                if not m.is_dir()
                and not m.filename.startswith("__MACOSX/")
                and not PurePosixPath(m.filename).name.startswith("._")
            ]
            if sum(m.file_size for m in members) > MAX_FILE_BYTES:
                raise ImportFileError("file_too_large", _too_large(name), "file")
            for member in members:
                # Members keep their folders, but never climb out of the temporary directory.
                parts = [p for p in PurePosixPath(member.filename).parts if p not in ("", ".")]
                if not parts or ".." in parts or parts[0].endswith(":"):
                    continue
                target = Path(tmp).joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(member))
            return _read_vector(_pick_in_zip(Path(tmp), options, name), options, name)
    except (zipfile.BadZipFile, EOFError, zlib.error):
        raise broken from None


def _pick_in_zip(root: Path, options: ImportOptions, name: str) -> Path:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    shapefiles = [p for p in files if p.suffix.lower() == ".shp"]
    others = [p for p in files if p.suffix.lower() in (".geojson", ".json", ".gpkg")]
    candidates = shapefiles or others
    if options.layer and len(candidates) > 1:
        chosen = [p for p in candidates if p.stem == options.layer]
        if not chosen:
            raise ImportFileError(
                "layer_not_found",
                f"压缩包中没有 '{options.layer}'，可用：{_stems(candidates)} / the zip holds no "
                f"'{options.layer}'; it holds: {_stems(candidates)}",
                "layer",
            )
        candidates = chosen
    if not candidates:
        raise ImportFileError(
            "no_shapefile",
            f"压缩包 {name} 中没有 .shp 文件 / the zip file {name} contains no .shp file",
            "file",
        )
    if len(candidates) > 1:
        raise ImportFileError(
            "several_layers",
            f"压缩包中有多个图层：{_stems(candidates)}，请用 --layer 指定 / the zip holds several "
            f"layers: {_stems(candidates)}; choose one with --layer",
            "layer",
        )
    return candidates[0]


def _stems(paths: Iterable[Path]) -> str:
    return ", ".join(p.stem for p in paths)


def _sibling(path: Path, suffix: str) -> Path | None:
    """The file beside `path` with the same stem and this suffix, in any letter case."""
    for candidate in path.parent.iterdir():
        if candidate.stem == path.stem and candidate.suffix.lower() == suffix:
            return candidate
    return None


def codec(text: str) -> str | None:
    """The Python codec of an encoding or code page name (".cpg" style), or None if unknown."""
    key = text.strip().lower().replace("_", "-")
    if key in _CODEC_ALIASES:
        return _CODEC_ALIASES[key]
    for candidate in (key, f"cp{key}" if key.isdigit() else None):
        if candidate:
            try:
                return codecs.lookup(candidate).name
            except LookupError:
                pass
    return None


def _given_codec(given: str) -> str:
    found = codec(given)
    if found is None:
        raise ImportFileError(
            "unknown_encoding",
            f"未知编码 '{given}'，例如 gbk、utf-8 / unknown encoding '{given}'; e.g. gbk, utf-8",
            "encoding",
        )
    return found


def _mismatch(name: str, used: str) -> ImportFileError:
    return ImportFileError(
        "encoding_mismatch",
        f"{name} 的文字不是 {used} 编码，请用 --encoding 指定（gbk 或 utf-8）/ the text of {name} "
        f"is not {used}; give --encoding (gbk or utf-8)",
        "encoding",
    )


def _read_vector(path: Path, options: ImportOptions, name: str) -> Table:
    fmt = FORMATS[path.suffix.lower()]
    notes: list[str] = []
    layer = None
    if fmt == "GeoPackage":
        layer = _gpkg_layer(path, options.layer)
    encoding, info = None, None
    if fmt == "Shapefile":
        for part in (".shx", ".dbf"):
            if _sibling(path, part) is None:
                raise ImportFileError(
                    "incomplete_shapefile",
                    f"缺少 {path.stem}{part}（Shapefile 需要 .shp、.shx、.dbf）/ {path.stem}{part} "
                    "is missing (a shapefile needs .shp, .shx and .dbf)",
                    "file",
                )
        encoding, info = _shapefile_encoding(path, options.encoding, notes)
    try:
        if fmt == "Shapefile" and encoding is None:
            # No .cpg and nothing given: UTF-8 if the text decodes as UTF-8, else GBK. Chinese
            # GBK text is practically never valid UTF-8, so the first decode error settles it.
            try:
                frame = pyogrio.read_dataframe(path, encoding="utf-8")
                info = {"name": "utf-8", "source": "detected"}
            except UnicodeDecodeError:
                frame = pyogrio.read_dataframe(path, encoding="gb18030")
                info = {"name": "gb18030", "source": "detected"}
            notes.append(
                f"文件没有 .cpg，按内容判断编码为 {info['name']} / the file has no .cpg; its text "
                f"was detected as {info['name']}"
            )
        else:
            frame = pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
    except UnicodeDecodeError:
        raise _mismatch(name, encoding or "utf-8") from None
    except Exception as exc:  # GDAL's reasons for a damaged file are many; all mean the same
        raise ImportFileError(
            "unreadable_file",
            f"无法读取 {name}（文件可能已损坏）：{exc} / cannot read {name} (damaged?): {exc}",
            "file",
        ) from None
    return Table(
        name=name,
        format=fmt,
        layer=layer or (path.stem if fmt == "Shapefile" else None),
        frame=frame,
        geometry=frame.geometry,
        crs=frame.crs,
        encoding=info,
        notes=notes,
    )


def _gpkg_layer(path: Path, wanted: str | None) -> str:
    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(path)]
    except Exception as exc:
        raise ImportFileError(
            "unreadable_file",
            f"无法读取 GeoPackage：{exc} / cannot read the GeoPackage: {exc}",
            "file",
        ) from None
    if wanted:
        if wanted not in layers:
            raise ImportFileError(
                "layer_not_found",
                f"GeoPackage 中没有图层 '{wanted}'，可用：{', '.join(layers)} / the GeoPackage has "
                f"no layer '{wanted}'; it has: {', '.join(layers)}",
                "layer",
            )
        return wanted
    if len(layers) != 1:
        raise ImportFileError(
            "several_layers",
            f"GeoPackage 中有 {len(layers)} 个图层：{', '.join(layers)}，请用 --layer 指定 / the "
            f"GeoPackage has {len(layers)} layers: {', '.join(layers)}; choose one with --layer",
            "layer",
        )
    return layers[0]


def _shapefile_encoding(
    shp: Path, given: str | None, notes: list[str]
) -> tuple[str | None, dict[str, str] | None]:
    """The codec to read the .dbf with, and how it was chosen: given, else the .cpg's, else None
    (detect). A given encoding wins over the .cpg: a .cpg that lies is why one gives it."""
    cpg = _sibling(shp, ".cpg")
    cpg_text = cpg.read_text("ascii", errors="replace").strip() if cpg else ""
    from_cpg = codec(cpg_text) if cpg_text else None
    if cpg_text and from_cpg is None:
        notes.append(
            f".cpg 中的编码 '{cpg_text}' 无法识别 / the .cpg names an unknown encoding '{cpg_text}'"
        )
    if given:
        used = _given_codec(given)
        if from_cpg and from_cpg != used:
            notes.append(
                f"给定编码 {used} 覆盖 .cpg 中的 {cpg_text} / the given encoding {used} overrides "
                f"the .cpg's {cpg_text}"
            )
        return used, {"name": used, "source": "given"}
    if from_cpg:
        return from_cpg, {"name": from_cpg, "source": "cpg"}
    return None, None


def _read_csv(path: Path, options: ImportOptions, name: str) -> Table:
    raw = path.read_bytes()
    if options.encoding:
        used = _given_codec(options.encoding)
        try:
            text = raw.decode(used)
        except UnicodeDecodeError:
            raise _mismatch(name, used) from None
        info = {"name": used, "source": "given"}
    else:
        try:
            text, info = raw.decode("utf-8-sig"), {"name": "utf-8", "source": "detected"}
        except UnicodeDecodeError:
            try:
                text, info = raw.decode("gb18030"), {"name": "gb18030", "source": "detected"}
            except UnicodeDecodeError:
                raise _mismatch(name, "utf-8 / gb18030") from None
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ImportFileError(
            "unreadable_file",
            f"无法读取 CSV {name}：{exc} / cannot read the CSV {name}: {exc}",
            "file",
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return Table(name, "CSV", None, frame, None, None, info)


def _read_xlsx(path: Path, options: ImportOptions, name: str) -> Table:
    """The first sheet of an Excel workbook (or `options.layer`), every cell as text: the
    spreadsheets street offices keep their household registers in."""
    try:
        frame = pd.read_excel(
            path, sheet_name=options.layer or 0, dtype=str, keep_default_na=False, engine="openpyxl"
        )
    except (ValueError, KeyError, zipfile.BadZipFile, OSError) as exc:
        raise ImportFileError(
            "unreadable_file",
            f"无法读取 Excel 文件 {name}：{exc} / cannot read the Excel file {name}: {exc}",
            "file",
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return Table(name, "XLSX", None, frame, None, None, {"name": "utf-8", "source": "xlsx"})


# --- coordinates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceCRS:
    """What the coordinates are in: an EPSG (or other PROJ) CRS, or GCJ-02 / BD-09 lon/lat,
    which are offsets, not CRSs PROJ knows, and go through gridmap.coords."""

    label: str
    proj: ProjCRS | None = None
    offset: coords.CRS | None = None


def crs_label(crs: ProjCRS) -> str:
    authority = crs.to_authority()
    return f"{authority[0]}:{authority[1]}" if authority else crs.name


def parse_crs(text: str) -> SourceCRS:
    """EPSG:4326 / 4490 / 3857 / 4498 (any CRS PROJ knows), or wgs84, cgcs2000, gcj02, bd09."""
    text = text.strip()
    try:
        named = coords.CRS.parse(text)
    except coords.UnknownCRS:
        named = None
    if named in (coords.CRS.GCJ02, coords.CRS.BD09):
        return SourceCRS(named.value, offset=named)
    if named is coords.CRS.WGS84:
        text = "EPSG:4326"
    elif named is coords.CRS.CGCS2000:
        text = "EPSG:4490"
    try:
        proj = ProjCRS.from_user_input(f"EPSG:{text}" if text.isdigit() else text)
    except CRSError:
        raise ImportFileError(
            "unknown_crs",
            f"未知坐标系 '{text}'，例如 EPSG:4326、EPSG:4490、EPSG:3857、EPSG:4498、gcj02、bd09 / "
            f"unknown CRS '{text}'; e.g. EPSG:4326, EPSG:4490, EPSG:3857, EPSG:4498, gcj02, bd09",
            "crs",
        ) from None
    return SourceCRS(crs_label(proj), proj=proj)


def _missing_crs(table: Table) -> ImportFileError:
    if table.format == "Shapefile":
        text = (
            "缺少坐标系：文件没有 .prj，请用 --crs 指定 / no CRS: the file has no .prj; give --crs"
        )
    elif table.format in _TABLE_FORMATS:
        text = (
            "缺少坐标系：表格不含坐标系，请用 --crs 指定（如 wgs84、gcj02）/ no CRS: a table does "
            "not say which CRS its coordinates are in; give --crs (e.g. wgs84, gcj02)"
        )
    else:
        text = "缺少坐标系：文件没有声明坐标系，请用 --crs 指定 / no CRS: the file declares none; give --crs"
    return ImportFileError("missing_crs", text, "crs")


def _offset_to_wgs84(crs: coords.CRS) -> Callable[[np.ndarray], np.ndarray]:
    """A vectorised GCJ-02 / BD-09 → WGS84 for shapely.transform, vertex by vertex."""

    def convert(xy: np.ndarray) -> np.ndarray:
        out = np.empty_like(xy)
        for i, (x, y) in enumerate(xy):
            try:
                done = coords.to_wgs84(float(x), float(y), crs)
            except coords.CoordinateError:
                raise _out_of_range(x, y, crs.value) from None
            out[i] = (done.lon, done.lat)
        return out

    return convert


def _out_of_range(x: float, y: float, label: str) -> ImportFileError:
    return ImportFileError(
        "coordinates_out_of_range",
        f"坐标 ({x:.6g}, {y:.6g}) 按 {label} 换算后不是有效经纬度，坐标系可能不对 / coordinate "
        f"({x:.6g}, {y:.6g}) read as {label} is no valid lon/lat: is that the right CRS?",
        "crs",
    )


def to_wgs84(
    geometry: gpd.GeoSeries, file_crs: ProjCRS | None, given: str | None, table: Table
) -> tuple[gpd.GeoSeries, dict[str, Any]]:
    """The geometries in WGS84 (2D), and what was done: the file's CRS, the one used, a note."""
    file_label = crs_label(file_crs) if file_crs is not None else None
    notes = []
    if given:
        source = parse_crs(given)
        same = source.proj is not None and source.proj.equals(file_crs, ignore_axis_order=True)
        if file_label and not same:
            notes.append(
                f"给定坐标系 {source.label} 覆盖文件的 {file_label} / the given CRS {source.label} "
                f"overrides the file's {file_label}"
            )
    elif file_crs is not None:
        source = SourceCRS(file_label, proj=file_crs)
    else:
        raise _missing_crs(table)
    raw = np.asarray(geometry.values, dtype=object)
    if source.offset is not None:
        values = shapely.transform(raw, _offset_to_wgs84(source.offset))
        # The conversion's note is the same for every point in China; take it from one.
        notes.append(coords.to_wgs84(105.0, 35.0, source.offset).note)
    else:
        # CGCS2000 (EPSG:4490 and its Gauss–Krüger zones 4491–4554) is realised within
        # centimetres of WGS84; PROJ's 4490 → 4326 step is a null (ballpark) transformation,
        # which is what is wanted here, and a Gauss–Krüger zone is only unprojected.
        series = gpd.GeoSeries(raw, crs=source.proj).to_crs(4326)
        values = shapely.force_2d(np.asarray(series.values, dtype=object))
        if source.proj.geodetic_crs is not None and "2000" in source.proj.geodetic_crs.name:
            notes.append(
                "CGCS2000 按 WGS84 处理（两者相差在厘米级），未做改正 / CGCS2000 taken as WGS84 "
                "(they differ by centimetres), not shifted"
            )
    xy = shapely.get_coordinates(values)
    bad = ~(np.isfinite(xy).all(axis=1) & (np.abs(xy[:, 0]) <= 180) & (np.abs(xy[:, 1]) <= 90))
    if bad.any():
        original = shapely.get_coordinates(raw)[int(np.argmax(bad))]
        raise _out_of_range(original[0], original[1], source.label)
    info = {
        "file": file_label,
        "used": source.label,
        "source": "given" if given else "file",
        "notes": notes,
    }
    return gpd.GeoSeries(values, crs=4326, index=geometry.index), info


# --- fields and values -----------------------------------------------------------------------


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """`target=field` pairs (the command's repeated --field, the API's comma-separated
    `fields`) as {target: field}."""
    mapping = {}
    for item in items:
        target, sep, column = item.partition("=")
        if not sep or not target.strip() or not column.strip():
            raise ImportFileError(
                "invalid_mapping",
                f"字段映射应写作 目标=文件字段，收到 '{item}' / a field mapping is written "
                f"target=file_field, got '{item}'",
                "fields",
            )
        mapping[target.strip()] = column.strip()
    return mapping


def find_column(columns: list[str], wanted: str, shapefile: bool) -> str | None:
    """The file's column for `wanted`: the same name, else in any letter case, else (in a
    shapefile, whose .dbf keeps 10 characters of a field name) its first 10 characters."""
    if wanted in columns:
        return wanted
    lower = {c.lower(): c for c in columns}
    if wanted.lower() in lower:
        return lower[wanted.lower()]
    if shapefile and len(wanted) > 10:
        return lower.get(wanted[:10].lower())
    return None


def map_fields(
    table: Table,
    candidates: dict[str, list[str]],
    given: dict[str, str],
    required: Iterable[str],
) -> dict[str, str | None]:
    """Target field → the file's column. A given name must be there; otherwise the first
    candidate found (None if none is, an error for a required target)."""
    unknown = sorted(set(given) - set(candidates))
    if unknown:
        targets = ", ".join(candidates)
        raise ImportFileError(
            "unknown_target",
            f"无法映射字段 {', '.join(unknown)}，可映射：{targets} / cannot map {', '.join(unknown)}; "
            f"the fields to map are: {targets}",
            "fields",
        )
    columns = table.columns
    shapefile = table.format == "Shapefile"
    listed = ", ".join(columns) or "–"
    mapping: dict[str, str | None] = {}
    for target, names in candidates.items():
        if given.get(target):
            column = find_column(columns, given[target], shapefile)
            if column is None:
                raise ImportFileError(
                    "field_not_found",
                    f"文件中没有字段 '{given[target]}'（用作 {target}）；文件的字段：{listed} / the "
                    f"file has no field '{given[target]}' (for {target}); its fields: {listed}",
                    {"field": target, "fields": columns},
                )
        else:
            column = next((c for n in names if (c := find_column(columns, n, shapefile))), None)
            if column is None and target in required:
                raise ImportFileError(
                    "field_not_found",
                    f"文件中没有 {target} 字段（试过 {', '.join(names)}），请指定字段映射；文件的字段："
                    f"{listed} / the file has no {target} field (tried {', '.join(names)}); map "
                    f"one; its fields: {listed}",
                    {"field": target, "fields": columns},
                )
        mapping[target] = column
    return mapping


def text(value: Any) -> str:
    """A cell as text: numbers from a .dbf without a spurious ".0", missing values as ""."""
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return ""
        if float(value).is_integer():
            return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    if value is pd.NA or value is pd.NaT:
        return ""
    return str(value).strip()


def _where(geom: BaseGeometry | None) -> list[float] | None:
    if geom is None or geom.is_empty:
        return None
    try:
        return point_where(geom)["point"]
    except shapely.errors.GEOSException:
        x, y = shapely.get_coordinates(geom)[0]
        return [round(float(x), 7), round(float(y), 7)]


def _polygon_checked(
    geom: BaseGeometry | None,
    feature: int,
    code: str | None,
    fix_invalid: bool,
    report: ImportReport,
) -> MultiPolygon | None:
    """The feature's polygon(s), valid, as a MultiPolygon; None (and a problem) if it has none or
    it is invalid and not repaired."""
    if geom is None or geom.is_empty:
        report.problem(
            feature, code, "empty_geometry", "要素没有几何 / the feature has no geometry"
        )
        return None
    if not isinstance(geom, Polygon | MultiPolygon):
        report.problem(
            feature,
            code,
            "not_polygonal",
            f"几何类型应为面（Polygon/MultiPolygon），收到 {geom.geom_type} / the geometry must be "
            f"a Polygon or MultiPolygon, got {geom.geom_type}",
            point=_where(geom),
        )
        return None
    try:
        check_valid(geom, "geometry")
    except GeometryError as exc:
        point = exc.where.get("point") or _where(geom)
        if not fix_invalid:
            report.problem(feature, code, "invalid_geometry", exc.detail + _FIX_HINT, point=point)
            return None
        fixed = polygonal(shapely.make_valid(geom))
        if fixed.is_empty:
            report.problem(
                feature,
                code,
                "invalid_geometry",
                "几何无效且无法修复（修复后为空）/ the geometry is invalid and make-valid leaves "
                "nothing of it",
                point=point,
            )
            return None
        report.fixed.append(
            Fix(
                feature,
                code,
                exc.where["reason"],
                round(area_m2(geom), 1),
                round(area_m2(fixed), 1),
                point,
            )
        )
        geom = fixed
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])


_FIX_HINT = "（可用 --fix-invalid 修复）/ (--fix-invalid repairs it)"


# --- grid units --------------------------------------------------------------------------------

UNIT_FIELDS = {
    "code": ["code", "编码"],
    "name": ["name", "名称"],
    "parent_code": ["parent_code", "parent", "上级编码"],
}


@dataclass
class _Unit:
    feature: int
    code: str
    name: str
    level: str
    parent_code: str | None
    geom: MultiPolygon
    existing: GridUnit | None = None
    action: str = "created"


def import_units(
    path: Path | str,
    level: str | None = None,
    options: ImportOptions | None = None,
    *,
    file_name: str | None = None,
) -> ImportReport:
    """Import grid units of `level` (None: each feature's level from the length of its code,
    so one file may hold several levels, parents first or not).

    Raises ImportFileError for a file that cannot be used; everything about single features is
    in the report. Writes only with options.commit and no error.
    """
    options = options or ImportOptions()
    if level is not None and level not in codes.LEVELS:
        raise ImportFileError(
            "invalid_level",
            f"未知层级 '{level}'，可用：{', '.join(codes.LEVELS)} / unknown level '{level}'; use "
            f"one of: {', '.join(codes.LEVELS)}",
            "level",
        )
    table = read_table(path, options, name=file_name)
    mapping = map_fields(table, UNIT_FIELDS, options.fields, required=("code", "name"))
    geometry, crs = to_wgs84(table.geometry, table.crs, options.crs, table)
    report = _start_report("units", table, mapping, crs, options)
    report.level = level
    if mapping["parent_code"] is None:
        report.notes.append(
            "文件没有上级编码字段，上级编码取自编码本身 / the file has no parent code field; each "
            "parent's code is taken from the unit's own code"
        )
    units = _read_units(table, geometry, mapping, level, options.fix_invalid, report)
    with transaction.atomic():
        units = _match_units(units, report)
        _write_units(units, report)
        _check_topology(units, report)
        _finish(report, options)
    return report


def _start_report(
    kind: str, table: Table, mapping: dict, crs: dict | None, options: ImportOptions
) -> ImportReport:
    report = ImportReport(
        kind=kind,
        file={
            "name": table.name,
            "format": table.format,
            "layer": table.layer,
            "features": len(table.frame),
        },
        encoding=table.encoding,
        crs=crs or {},
        fields=mapping,
        commit=options.commit,
    )
    report.notes.extend(table.notes)
    if crs:
        report.notes.extend(crs["notes"])
    return report


def _finish(report: ImportReport, options: ImportOptions) -> None:
    """Keep the transaction only for a commit without errors; roll everything else back."""
    report.committed = options.commit and report.ok
    if not report.committed:
        transaction.set_rollback(True)
        for item in report.items:
            if item["action"] == "created":
                item["id"] = None  # the id it had in the rolled-back transaction


def _read_units(
    table: Table,
    geometry: gpd.GeoSeries,
    mapping: dict[str, str | None],
    level: str | None,
    fix_invalid: bool,
    report: ImportReport,
) -> list[_Unit]:
    """Each feature's code, name, parent, level and polygon, checked on their own."""
    units = []
    name_length = GridUnit._meta.get_field("name").max_length
    records = table.frame.to_dict("records")
    for n, (cell, geom) in enumerate(zip(records, geometry, strict=True), 1):
        code = text(cell[mapping["code"]])
        name = text(cell[mapping["name"]])
        where = _where(geom)
        if not code:
            report.problem(n, None, "missing_code", "缺少编码 / the code is empty", point=where)
            continue
        try:
            unit_level = level or codes.level_of_code(code)
            parent_level = codes.PARENT_LEVEL[unit_level]
            # Without a parent field (or value) the parent's code is the code's own beginning.
            parent_code = text(cell[mapping["parent_code"]]) if mapping["parent_code"] else ""
            if not parent_code and parent_level:
                parent_code = code[: codes.CODE_LENGTH[parent_level]]
            codes.validate_code(code, unit_level, parent_code or None)
        except codes.CodeError as exc:
            report.problem(n, code, "invalid_code", str(exc), point=where)
            continue
        if not name:
            report.problem(n, code, "missing_name", "缺少名称 / the name is empty", point=where)
            continue
        if len(name) > name_length:
            report.problem(
                n,
                code,
                "name_too_long",
                f"名称超过 {name_length} 个字 / the name is longer than {name_length} characters",
                point=where,
            )
            continue
        polygon = _polygon_checked(geom, n, code, fix_invalid, report)
        if polygon is not None:
            units.append(_Unit(n, code, name, unit_level, parent_code or None, polygon))
    return units


def _same_geometry(a: BaseGeometry, b: BaseGeometry) -> bool:
    # The boundaries' Hausdorff distance: extra collinear vertices do not count, a moved edge or
    # an added or removed hole does.
    return shapely.hausdorff_distance(a.boundary, b.boundary) <= SAME_GEOMETRY_DEG


def _match_units(units: list[_Unit], report: ImportReport) -> list[_Unit]:
    """Drop duplicates and units without a parent; compare the rest with the units there are.

    The parents are locked first, as the edit service does, so an edit of their children waits
    for this transaction.
    """
    parent_codes = {u.parent_code for u in units if u.parent_code}
    list(GridUnit.objects.select_for_update().filter(code__in=parent_codes).values_list("pk"))
    wanted = parent_codes | {u.code for u in units}
    existing = {u.code: u for u in GridUnit.objects.filter(code__in=wanted)}
    first: dict[str, int] = {}
    kept: dict[str, _Unit] = {}
    for unit in sorted(units, key=lambda u: (LEVEL_ORDER[u.level], u.feature)):
        if unit.code in first:
            report.problem(
                unit.feature,
                unit.code,
                "duplicate_code",
                f"编码 {unit.code} 与第 {first[unit.code]} 个要素重复 / code {unit.code} repeats "
                f"feature {first[unit.code]}",
                point=_where(unit.geom),
            )
            continue
        first[unit.code] = unit.feature
        if unit.parent_code and unit.parent_code not in existing and unit.parent_code not in kept:
            report.problem(
                unit.feature,
                unit.code,
                "missing_parent",
                f"上级 {unit.parent_code} 不存在（库中和文件中的有效要素中都没有）/ the parent "
                f"{unit.parent_code} exists neither in the database nor among the file's valid "
                "features",
                point=_where(unit.geom),
            )
            continue
        unit.existing = existing.get(unit.code)
        if unit.existing is not None:
            old = to_shapely(unit.existing.geom)
            same = _same_geometry(old, unit.geom)
            unit.action = "unchanged" if same and unit.existing.name == unit.name else "changed"
        kept[unit.code] = unit
    return sorted(kept.values(), key=lambda u: u.feature)


def _write_units(units: list[_Unit], report: ImportReport) -> None:
    """Create and change the units, coarse levels first, then reassign the layers where grids
    changed. Runs for the dry run too (it is rolled back)."""
    ids = {u.code: u.existing.pk for u in units if u.existing is not None}
    parents = {u.parent_code for u in units if u.parent_code}
    ids.update(GridUnit.objects.filter(code__in=parents).values_list("code", "pk"))
    now = timezone.now()
    moved_parts = []
    for level in codes.LEVELS:
        batch = [u for u in units if u.level == level]
        new = [
            GridUnit(
                level=u.level,
                code=u.code,
                name=u.name,
                parent_id=ids[u.parent_code] if u.parent_code else None,
                geom=to_geos(u.geom),
            )
            for u in batch
            if u.action == "created"
        ]
        for unit in GridUnit.objects.bulk_create(new):
            ids[unit.code] = unit.pk
        for u in batch:
            if u.action == "changed":
                GridUnit.objects.filter(pk=u.existing.pk).update(
                    geom=to_geos(u.geom), name=u.name, version=F("version") + 1, updated_at=now
                )
            if level == "grid" and u.action != "unchanged":
                old = to_shapely(u.existing.geom) if u.existing else None
                moved_parts.append(u.geom if old is None else old.symmetric_difference(u.geom))
    for u in units:
        before = u.existing.version if u.existing else None
        after = 1 if before is None else before + (u.action == "changed")
        setattr(report, u.action, getattr(report, u.action) + 1)
        report.items.append(
            {
                "feature": u.feature,
                "code": u.code,
                "name": u.name,
                "level": u.level,
                "parent_code": u.parent_code,
                "action": u.action,
                "id": ids.get(u.code),
                "version_before": before,
                "version_after": after,
                "area_m2": round(area_m2(u.geom), 1),
                "point": _where(u.geom),
            }
        )
    area = polygonal(shapely.union_all(moved_parts)) if moved_parts else None
    if area is not None and not area.is_empty:
        results = assign_all(area=to_geos(area), report=True)
        report.reassignment = _moves(results)


def _moves(results) -> dict[str, dict]:
    """Moves per layer as {"moved": n, "pairs": [{"from": code, "to": code, "count": n}]}."""
    grid_ids = {g for r in results for old, new, _ in r.moves for g in (old, new) if g}
    code_of = dict(GridUnit.objects.filter(pk__in=grid_ids).values_list("pk", "code"))
    return {
        r.layer: {
            "moved": sum(n for *_, n in r.moves),
            "pairs": [
                {"from": code_of.get(old), "to": code_of.get(new), "count": n}
                for old, new, n in sorted(r.moves, key=lambda m: (m[0] or 0, m[1] or 0))
            ],
        }
        for r in results
        if r.moves
    }


def _check_topology(units: list[_Unit], report: ImportReport) -> None:
    """The topology check of gridmap.topology over the parents of what was written, as it
    stands inside this transaction; what involves an imported unit is reported. Overlaps and
    parts outside the parent are errors; gaps (a partly imported parent) and grids out of
    reading order are warnings."""
    written = {u.code: u.feature for u in units if u.action != "unchanged"}
    if not written:
        return
    parents = {u.parent_code for u in units if u.code in written and u.parent_code}
    scopes = sorted(parents | {u.code for u in units if u.code in written and not u.parent_code})
    scopes = [s for s in scopes if not any(s != o and s.startswith(o) for o in scopes)]
    involved = set(written) | parents

    def add(code: str, error: str, detail: str, item, severity: str = "error") -> None:
        report.topology.append(
            Problem(
                written.get(code),
                code,
                error,
                detail,
                [round(item.point[0], 7), round(item.point[1], 7)],
                severity,
                round(item.area_m2, 1),
            )
        )

    for scope in scopes:
        found = topology.check(scope)
        for o in found.overlaps:
            if o.a in written or o.b in written:
                add(
                    o.b if o.b in written else o.a,
                    "overlap",
                    f"{o.a} 与 {o.b} 重叠 {o.area_m2:.1f} 平方米 / {o.a} and {o.b} overlap by "
                    f"{o.area_m2:.1f} m²",
                    o,
                )
        for o in found.outside:
            if o.child in written or o.parent in written:
                add(
                    o.child,
                    "outside_parent",
                    f"{o.child} 有 {o.area_m2:.1f} 平方米超出上级 {o.parent} / {o.area_m2:.1f} m² "
                    f"of {o.child} lie outside its parent {o.parent}",
                    o,
                )
        for tiling in found.tilings:
            if tiling.children and tiling.code in involved:
                for g in tiling.gaps:
                    add(
                        g.parent,
                        "gap",
                        f"{g.parent} 内有 {g.area_m2:.1f} 平方米未被下级覆盖 / {g.area_m2:.1f} m² "
                        f"of {g.parent} are covered by none of its children",
                        g,
                        "warning",
                    )
        for o in found.order:
            if o.code in written:
                report.topology.append(
                    Problem(
                        written[o.code],
                        o.code,
                        "out_of_order",
                        f"{o.code} 按阅读顺序应排第 {o.expected}，按编码排第 {o.actual} / "
                        f"{o.code} is number {o.actual} by code but {o.expected} in reading order",
                        severity="warning",
                    )
                )


# --- map layers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerSpec:
    """How a layer comes from a file: its model, geometry field and shape, the fields a file
    may fill, the field that matches existing rows, and whether a CSV will do."""

    name: str
    model: type[models.Model]
    geometry: str | None  # the model's geometry field; None: a household (its building's)
    shape: str  # "polygon", "point" or "line"
    fields: tuple[str, ...]
    key: str | None = None
    csv: bool = False
    # SQL over new rows `n` and existing rows `o`: the new row may repeat the old one.
    duplicate_sql: str | None = None

    @property
    def permissions(self) -> list[str]:
        meta = self.model._meta
        return [
            f"{meta.app_label}.add_{meta.model_name}",
            f"{meta.app_label}.change_{meta.model_name}",
        ]


LAYERS: dict[str, LayerSpec] = {
    spec.name: spec
    for spec in (
        LayerSpec(
            "buildings",
            Building,
            "footprint",
            "polygon",
            ("name", "road", "number", "kind", "floors", "units"),
            duplicate_sql="ST_Intersects(o.footprint, n.anchor) AND ST_Intersects(n.footprint, o.anchor)",
        ),
        LayerSpec(
            "cameras",
            Camera,
            "location",
            "point",
            ("code", "name", "bearing", "fov", "range_m", "status"),
            key="code",
            csv=True,
        ),
        LayerSpec(
            "facilities",
            Facility,
            "location",
            "point",
            ("kind", "name", "address"),
            csv=True,
            duplicate_sql="o.kind = n.kind AND ST_DWithin(o.location::geography, "
            f"n.location::geography, {DUPLICATE_DISTANCE_M})",
        ),
        LayerSpec(
            "roads",
            Road,
            "geom",
            "line",
            ("name", "kind", "walkable"),
            duplicate_sql=f"o.geom && n.geom AND ST_HausdorffDistance(o.geom, n.geom) < {SAME_GEOMETRY_DEG}",
        ),
        LayerSpec(
            "households",
            Household,
            None,
            "point",
            (
                "unit_no",
                "floor",
                "room",
                "residents",
                "color",
                "aged_60_plus",
                "disabled",
                "floating",
                "retired",
                "unemployed",
                "party_members",
                "head_name",
                "head_phone",
            ),
            csv=True,
        ),
    )
}


def layer_spec(name: str) -> LayerSpec:
    """The layer by its name (buildings) or its model's (building)."""
    for spec in LAYERS.values():
        if name in (spec.name, spec.model._meta.model_name):
            return spec
    names = ", ".join(LAYERS)
    raise ImportFileError(
        "unknown_layer",
        f"未知图层 '{name}'，可用：{names} / unknown layer '{name}'; use one of: {names}",
        "layer",
    )


def _candidates(spec: LayerSpec) -> dict[str, list[str]]:
    """Each field by its own name and by its Chinese verbose name (名称, 道路, 门牌号…), the
    column names of Chinese platforms' exports."""
    found = {}
    with translation.override(None):
        for name in spec.fields:
            verbose = str(spec.model._meta.get_field(name).verbose_name)
            found[name] = [name, verbose] if verbose != name else [name]
    return found


def _required(spec: LayerSpec) -> list[str]:
    return [
        name
        for name in spec.fields
        if not (f := spec.model._meta.get_field(name)).blank and not f.has_default()
    ]


@dataclass
class _Row:
    feature: int
    values: dict[str, Any]
    geom: BaseGeometry | None = None
    address: str = ""
    building_id: int | None = None
    obj: models.Model | None = None
    action: str = "created"


def import_layer(
    layer: str,
    path: Path | str,
    options: ImportOptions | None = None,
    *,
    file_name: str | None = None,
    user: Any = None,
) -> ImportReport:
    """Import features of a map layer (buildings, cameras, facilities, roads, households).

    Rows are created — cameras, which have a code, are changed or left as they are when one
    with the code exists — in bulk, then assigned to their grids in one set-based call.
    Households need a building: found by address, or as the building at their point. A
    committed household import is written to the audit log as `user`'s.
    """
    options = options or ImportOptions()
    spec = layer_spec(layer)
    table = read_table(path, options, csv=spec.csv, name=file_name)
    mapping = map_fields(table, _candidates(spec), options.fields, _required(spec))
    address_column = _address_column(table, spec, options)
    geometry, crs = _layer_geometry(table, spec, options, address_column)
    report = _start_report(spec.name, table, {**mapping, "address": address_column}, crs, options)
    rows = _read_rows(spec, table, mapping, geometry, address_column, options, report)
    with transaction.atomic():
        _locate(spec, rows, report)
        _build(spec, rows, report)
        _write_rows(spec, rows, report)
        if spec.model is Household:
            # In the import's transaction: a dry run, rolled back, leaves no entry.
            created = [r.obj.pk for r in rows if r.obj is not None and r.action == "created"]
            written = [name for name, column in mapping.items() if column]
            audit.log_change(user, audit.Action.CREATE, Household, created, written, "import")
        _finish(report, options)
    return report


def _address_column(table: Table, spec: LayerSpec, options: ImportOptions) -> str | None:
    if spec.shape != "point":
        return None
    shapefile = table.format == "Shapefile"
    if options.address_field:
        column = find_column(table.columns, options.address_field, shapefile)
        if column is None:
            raise _no_field(table, options.address_field, "address")
        return column
    # A facility's own address field is an attribute, not where to put it, unless the file
    # has no coordinates.
    if spec.name == "facilities" and table.format not in _TABLE_FORMATS:
        return None
    return next(
        (c for n in ("address", "地址") if (c := find_column(table.columns, n, shapefile))), None
    )


def _no_field(table: Table, name: str, target: str) -> ImportFileError:
    listed = ", ".join(table.columns) or "–"
    return ImportFileError(
        "field_not_found",
        f"文件中没有字段 '{name}'（用作 {target}）；文件的字段：{listed} / the file has no field "
        f"'{name}' (for {target}); its fields: {listed}",
        {"field": target, "fields": table.columns},
    )


def _layer_geometry(
    table: Table, spec: LayerSpec, options: ImportOptions, address_column: str | None
) -> tuple[gpd.GeoSeries | None, dict | None]:
    """The features' geometries in WGS84; for a CSV, points from its lon/lat columns (rows
    without coordinates get None and are placed by address)."""
    if table.format not in _TABLE_FORMATS:
        return to_wgs84(table.geometry, table.crs, options.crs, table)
    lon = _coordinate_column(table, options.lon_field, ("lon", "lng", "longitude", "经度", "x"))
    lat = _coordinate_column(table, options.lat_field, ("lat", "latitude", "纬度", "y"))
    if lon is None or lat is None:
        if address_column is None:
            listed = ", ".join(table.columns) or "–"
            raise ImportFileError(
                "field_not_found",
                f"CSV 需要经纬度列（lon、lat）或地址列（address）；文件的字段：{listed} / the CSV "
                f"needs lon and lat columns or an address column; its fields: {listed}",
                {"field": "lon", "fields": table.columns},
            )
        return None, None
    table.frame[lon] = table.frame[lon].str.strip()
    table.frame[lat] = table.frame[lat].str.strip()
    xs = pd.to_numeric(table.frame[lon], errors="coerce")
    ys = pd.to_numeric(table.frame[lat], errors="coerce")
    given = xs.notna() & ys.notna()
    points = [Point(x, y) if ok else None for x, y, ok in zip(xs, ys, given, strict=True)]
    if not given.any():
        return gpd.GeoSeries(points, index=table.frame.index), None
    if not options.crs:
        raise _missing_crs(table)
    geometry, crs = to_wgs84(
        gpd.GeoSeries(points, index=table.frame.index), None, options.crs, table
    )
    crs["fields"] = {"lon": lon, "lat": lat}
    return geometry, crs


def _coordinate_column(table: Table, given: str | None, defaults: tuple[str, ...]) -> str | None:
    if given:
        column = find_column(table.columns, given, False)
        if column is None:
            raise _no_field(table, given, "lon/lat")
        return column
    return next((c for n in defaults if (c := find_column(table.columns, n, False))), None)


def _read_rows(
    spec: LayerSpec,
    table: Table,
    mapping: dict[str, str | None],
    geometry: gpd.GeoSeries | None,
    address_column: str | None,
    options: ImportOptions,
    report: ImportReport,
) -> list[_Row]:
    """Each feature's values converted to the model's types, and its geometry of the layer's
    shape; problems for what does not convert."""
    rows = []
    records = table.frame.to_dict("records")
    geoms = list(geometry) if geometry is not None else [None] * len(records)
    for n, (cell, geom) in enumerate(zip(records, geoms, strict=True), 1):
        values, bad = {}, False
        for name, column in mapping.items():
            if column is None:
                continue
            model_field = spec.model._meta.get_field(name)
            try:
                value = _convert(model_field, cell[column])
            except ValueError as exc:
                report.problem(n, None, "invalid_value", str(exc), point=_where(geom))
                bad = True
                continue
            if value is not None:
                values[name] = value
        address = text(cell[address_column]) if address_column else ""
        if bad:
            continue
        row = _Row(n, values, address=address)
        if geom is not None and not geom.is_empty:
            row.geom = _shape(spec, geom, n, options.fix_invalid, report)
            if row.geom is None:
                continue
        elif not (address and spec.shape == "point"):
            report.problem(
                n,
                values.get("code"),
                "empty_geometry",
                "要素没有几何（也没有地址）/ the feature has no geometry (and no address)",
            )
            continue
        if spec.name == "roads" and isinstance(row.geom, list):
            rows.extend(_Row(n, dict(values), geom=part) for part in row.geom)
            report.notes.append(
                f"第 {n} 个要素是多段线，拆为 {len(row.geom)} 条道路 / feature {n} is a "
                f"multi-part line, imported as {len(row.geom)} roads"
            )
            continue
        rows.append(row)
    return rows


def _convert(model_field: models.Field, value: Any) -> Any:
    """A cell as the value of a model field (None when empty); ValueError (bilingual) if it
    cannot be one. Choices may be given by value or by their Chinese or English label."""
    name = model_field.name
    if isinstance(value, float | np.floating) and math.isnan(value):
        return None
    raw = text(value)
    if raw == "":
        return None
    if model_field.choices:
        by_label = {}
        for choice, label in model_field.choices:
            by_label[str(choice).lower()] = choice
            for language in (None, "en"):
                with translation.override(language):
                    by_label[str(label).lower()] = choice
        key = raw.lower()
        if key not in by_label:
            allowed = ", ".join(str(c) for c, _ in model_field.choices)
            raise ValueError(
                f"{name} 的值 '{raw}' 不在可选值中（{allowed}）/ {name} '{raw}' is not one of: "
                f"{allowed}"
            )
        return by_label[key]
    kind = model_field.get_internal_type()
    try:
        if kind.endswith("IntegerField"):
            number = float(raw)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if kind == "FloatField":
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError
            return number
    except ValueError:
        raise ValueError(
            f"{name} 应为数字，收到 '{raw}' / {name} must be a number, got '{raw}'"
        ) from None
    if kind == "BooleanField":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError(f"{name} 应为 是/否，收到 '{raw}' / {name} must be yes or no, got '{raw}'")
    return raw


def _shape(
    spec: LayerSpec, geom: BaseGeometry, feature: int, fix_invalid: bool, report: ImportReport
) -> BaseGeometry | list[LineString] | None:
    """The geometry as the layer's shape: one polygon, one point, or a line (a multi-part line
    that does not merge gives a list of lines, one road each)."""
    parts = list(shapely.get_parts(geom))
    if spec.shape == "polygon":
        polygon = _polygon_checked(geom, feature, None, fix_invalid, report)
        if polygon is None:
            return None
        if len(polygon.geoms) != 1:
            report.problem(
                feature,
                None,
                "multipart",
                f"建筑轮廓应为单个面，收到 {len(polygon.geoms)} 个 / a footprint must be one "
                f"polygon, got {len(polygon.geoms)}",
                point=_where(polygon),
            )
            return None
        return polygon.geoms[0]
    expected = {"point": Point, "line": LineString}[spec.shape]
    if not all(isinstance(p, expected) for p in parts):
        report.problem(
            feature,
            None,
            "wrong_geometry_type",
            f"几何类型应为 {expected.__name__}，收到 {geom.geom_type} / the geometry must be a "
            f"{expected.__name__}, got {geom.geom_type}",
            point=_where(geom),
        )
        return None
    if spec.shape == "point":
        if len(parts) != 1:
            report.problem(
                feature,
                None,
                "multipart",
                f"应为单个点，收到 {len(parts)} 个 / one point expected, got {len(parts)}",
                point=_where(geom),
            )
            return None
        return parts[0]
    merged = shapely.line_merge(geom) if len(parts) > 1 else parts[0]
    if isinstance(merged, LineString):
        return merged
    return list(shapely.get_parts(merged))


# Buildings by address key: the one key of layers.services.address, computed on the stored side.
_BUILDINGS_BY_ADDRESS = f"""
    SELECT k.key, b.id, ST_X(b.anchor), ST_Y(b.anchor)
      FROM {Building._meta.db_table} b,
           LATERAL (SELECT {ADDRESS_KEY_SQL.format(text="b.road || b.number")} AS key) k
     WHERE k.key = ANY(%(keys)s)
     ORDER BY b.id
"""

# The building at each point; a point on a wall shared by two goes to the lower id.
_BUILDINGS_AT = f"""
    SELECT DISTINCT ON (p.n) p.n, b.id
      FROM unnest(%(n)s::int[], %(x)s::float8[], %(y)s::float8[]) AS p(n, x, y)
      JOIN {Building._meta.db_table} b
        ON ST_Covers(b.footprint, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326))
     ORDER BY p.n, b.id
"""


def _locate(spec: LayerSpec, rows: list[_Row], report: ImportReport) -> None:
    """Rows given by address get their building's point (and households the building); the
    other households get the building at their point."""
    by_key: dict[str, list[tuple[int, float, float]]] = {}
    keys = {normalize_address(r.address) for r in rows if r.address}
    keys.discard("")
    if keys:
        with connection.cursor() as cursor:
            cursor.execute(_BUILDINGS_BY_ADDRESS, {"keys": sorted(keys)})
            for key, building_id, x, y in cursor.fetchall():
                by_key.setdefault(key, []).append((building_id, x, y))
    at_point = [r for r in rows if not r.address and r.geom is not None]
    building_at: dict[int, int] = {}
    if spec.name == "households" and at_point:
        with connection.cursor() as cursor:
            cursor.execute(
                _BUILDINGS_AT,
                {
                    "n": [r.feature for r in at_point],
                    "x": [r.geom.x for r in at_point],
                    "y": [r.geom.y for r in at_point],
                },
            )
            building_at = dict(cursor.fetchall())
    located = 0
    for row in rows:
        if row.address and (spec.name == "households" or row.geom is None):
            hits = by_key.get(normalize_address(row.address), [])
            if len(hits) != 1:
                report.problem(
                    row.feature,
                    row.values.get("code"),
                    "address_not_found" if not hits else "address_ambiguous",
                    f"找不到地址 '{row.address}' 的建筑 / no building has the address "
                    f"'{row.address}'"
                    if not hits
                    else f"地址 '{row.address}' 对应 {len(hits)} 栋建筑 / {len(hits)} buildings "
                    f"have the address '{row.address}'",
                )
                row.action = "failed"
                continue
            building_id, x, y = hits[0]
            row.building_id = building_id
            if row.geom is None:
                row.geom = Point(x, y)
            located += 1
        elif spec.name == "households":
            row.building_id = building_at.get(row.feature)
            if row.building_id is None:
                report.problem(
                    row.feature,
                    None,
                    "no_building",
                    "该位置没有建筑：住户必须属于一栋建筑 / no building at this point: a "
                    "household belongs to a building",
                    point=_where(row.geom),
                )
                row.action = "failed"
    if located:
        report.notes.append(
            f"{located} 条记录按地址定位到建筑 / {located} rows were placed by their address"
        )


def _build(spec: LayerSpec, rows: list[_Row], report: ImportReport) -> None:
    """Model instances, validated by the model's own rules; cameras matched by code."""
    existing = {}
    if spec.key:
        wanted = [r.values.get(spec.key) for r in rows if r.values.get(spec.key)]
        existing = spec.model.objects.in_bulk(wanted, field_name=spec.key)
    seen: dict[Any, int] = {}
    exclude = ["grid", "building"] + ([spec.geometry] if spec.geometry else [])
    for row in rows:
        if row.action == "failed":
            continue
        key = row.values.get(spec.key) if spec.key else None
        if key is not None and key in seen:
            report.problem(
                row.feature,
                key,
                "duplicate_code",
                f"编号 {key} 与第 {seen[key]} 个要素重复 / code {key} repeats feature {seen[key]}",
                point=_where(row.geom),
            )
            row.action = "failed"
            continue
        if key is not None:
            seen[key] = row.feature
        obj = existing.get(key) if key is not None else None
        if obj is not None:
            before = {name: getattr(obj, name) for name in row.values}
            moved = obj.location.distance(_geos(row.geom)) > SAME_GEOMETRY_DEG
            for name, value in row.values.items():
                setattr(obj, name, value)
            row.action = "changed" if moved or before != row.values else "unchanged"
        else:
            obj = spec.model(**row.values)
        if spec.geometry:
            setattr(obj, spec.geometry, _geos(row.geom))
        if row.building_id:
            obj.building_id = row.building_id
        try:
            obj.full_clean(exclude=exclude, validate_unique=False)
        except ValidationError as exc:
            messages = "; ".join(
                f"{name}: {' '.join(str(m) for m in errors)}"
                for name, errors in exc.message_dict.items()
            )
            report.problem(
                row.feature,
                key,
                "invalid_value",
                f"字段值无效：{messages} / invalid values: {messages}",
                point=_where(row.geom),
            )
            row.action = "failed"
            continue
        row.obj = obj


def _geos(geom: BaseGeometry) -> GEOSGeometry:
    return GEOSGeometry(memoryview(shapely.to_wkb(geom)), srid=4326)


def _write_rows(spec: LayerSpec, rows: list[_Row], report: ImportReport) -> None:
    """bulk_create the new rows, bulk_update the changed ones, then one assignment call; the
    service circles follow new facilities and roads once the transaction commits."""
    model = spec.model
    new = [r.obj for r in rows if r.obj is not None and r.action == "created"]
    changed = [r.obj for r in rows if r.obj is not None and r.action == "changed"]
    report.created, report.changed = len(new), len(changed)
    report.unchanged = sum(r.obj is not None and r.action == "unchanged" for r in rows)
    model.objects.bulk_create(new)
    if changed:
        model.objects.bulk_update(changed, [*spec.fields, spec.geometry])
    ids = [o.pk for o in new + changed]
    if not ids:
        return
    if issubclass(model, GridAssigned):
        result = assign(model, ids=ids)
        report.reassignment[result.layer] = {
            "assigned": result.assigned,
            "unassigned": result.unassigned,
        }
        if result.unassigned:
            report.notes.append(
                f"{result.unassigned} 个要素不在任何网格内 / {result.unassigned} features lie "
                "in no grid"
            )
    if spec.duplicate_sql:
        _warn_duplicates(spec, rows, [o.pk for o in new], report)
    if model is Facility:
        transaction.on_commit(lambda: coverage.compute_circles(ids))
    elif model is Road:
        lines = [o.geom.ewkt for o in new]

        def roads_changed() -> None:
            walknet.refresh()
            coverage.compute_circles(coverage.facilities_near(lines))

        transaction.on_commit(roads_changed)


def _warn_duplicates(
    spec: LayerSpec, rows: list[_Row], new_ids: list[int], report: ImportReport
) -> None:
    if not new_ids:
        return
    table = connection.ops.quote_name(spec.model._meta.db_table)
    sql = f"""
        SELECT DISTINCT ON (n.id) n.id, o.id
          FROM {table} n JOIN {table} o ON o.id <> ALL(%(ids)s) AND {spec.duplicate_sql}
         WHERE n.id = ANY(%(ids)s)
         ORDER BY n.id, o.id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"ids": new_ids})
        repeats = dict(cursor.fetchall())
    for row in rows:
        if row.obj is not None and row.obj.pk in repeats:
            report.problem(
                row.feature,
                None,
                "possible_duplicate",
                f"可能与已有要素 #{repeats[row.obj.pk]} 重复 / may repeat the existing feature "
                f"#{repeats[row.obj.pk]}",
                point=_where(row.geom),
                severity="warning",
            )
