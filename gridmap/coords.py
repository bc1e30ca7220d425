"""The one place GridMap converts between WGS84, CGCS2000, GCJ-02 (Amap/Tencent) and
BD-09 (Baidu) lon/lat, so that everything stored is WGS84.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real

__all__ = [
    "CRS",
    "Conversion",
    "CoordinateError",
    "UnknownCRS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "out_of_china",
    "to_wgs84",
    "validate_lonlat",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

LonLat = tuple[float, float]


class UnknownCRS(ValueError):
    """A CRS name that is not one of ours; the message is bilingual."""


class CoordinateError(ValueError):
    """A lon/lat that cannot be a position; `.where` names the field ("lon" or "lat")."""

    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.where = where


class CRS(enum.StrEnum):
    WGS84 = "wgs84"
    CGCS2000 = "cgcs2000"
    GCJ02 = "gcj02"
    BD09 = "bd09"

    @classmethod
    def parse(cls, text: str | CRS) -> CRS:
        """The CRS named by `text`: a member name, an EPSG code or a common spelling."""
        if isinstance(text, CRS):
            return text
        key = text.strip().lower() if isinstance(text, str) else None
        if key is not None and key in _ALIASES:
            return _ALIASES[key]
        names = ", ".join(member.value for member in cls)
        raise UnknownCRS(
            f"未知坐标系 '{text}'，可用: {names} / unknown crs '{text}'; use one of: {names}"
        )


# "…ll" spellings are what Baidu's web APIs put in their coordtype parameter.
_ALIASES: dict[str, CRS] = {
    "wgs84": CRS.WGS84,
    "wgs-84": CRS.WGS84,
    "wgs84ll": CRS.WGS84,
    "4326": CRS.WGS84,
    "epsg:4326": CRS.WGS84,
    "cgcs2000": CRS.CGCS2000,
    "cgcs-2000": CRS.CGCS2000,
    "4490": CRS.CGCS2000,
    "epsg:4490": CRS.CGCS2000,
    "gcj02": CRS.GCJ02,
    "gcj-02": CRS.GCJ02,
    "gcj02ll": CRS.GCJ02,
    "bd09": CRS.BD09,
    "bd-09": CRS.BD09,
    "bd09ll": CRS.BD09,
}


# --- validation ---------------------------------------------------------------

_FIELD_ZH = {"lon": "经度", "lat": "纬度"}
_LIMIT = {"lon": 180.0, "lat": 90.0}


def _check(value: float, where: str) -> None:
    # bool is an int subclass; True as a longitude is a caller bug, not 1°.
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{where} must be a number, got {type(value).__name__}")
    zh, limit = _FIELD_ZH[where], _LIMIT[where]
    if not math.isfinite(value):
        raise CoordinateError(
            f"{zh} {where}={value} 不是有限数值 / {where}={value} is not a finite number",
            where,
        )
    if not -limit <= value <= limit:
        raise CoordinateError(
            f"{zh} {where}={value} 超出范围 [-{limit:g}, {limit:g}] / "
            f"{where}={value} is out of range [-{limit:g}, {limit:g}]",
            where,
        )


def validate_lonlat(lon: float, lat: float) -> None:
    """Raise CoordinateError unless lon is in -180..180 and lat in -90..90, both finite."""
    _check(lon, "lon")
    _check(lat, "lat")


# --- WGS84 <-> GCJ-02 ------------------------------------------------------------

# The public algorithm scales its shift on the Krasovsky 1940 ellipsoid, not WGS84's;
# published GCJ-02 values are only reproduced with exactly these constants.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323

# Coarse box used by every public implementation; outside it GCJ-02 equals WGS84.
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)

# 1e-9° is about 0.1 mm, far below the 1 cm we promise.  Both shifts change by at most
# a few per cent of a step, so each iteration gains 1.5+ digits (4 steps in practice);
# the cap only guards against pathological input.
_TOLERANCE = 1e-9
_MAX_ITERATIONS = 30


def out_of_china(lon: float, lat: float) -> bool:
    """True where GCJ-02 leaves coordinates unshifted (the usual coarse box)."""
    return not (_CHINA_LON[0] <= lon <= _CHINA_LON[1] and _CHINA_LAT[0] <= lat <= _CHINA_LAT[1])


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2 / 3
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2 / 3
    return ret


def _transform_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2 / 3
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2 / 3
    return ret


def _gcj02_offset(lon: float, lat: float) -> LonLat:
    # The series gives the shift in metres; dividing by the Krasovsky radii of
    # curvature at this latitude turns it into degrees.
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    rad_lat = math.radians(lat)
    magic = 1 - _KRASOVSKY_EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_KRASOVSKY_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return dlon, dlat


def _invert(
    forward: Callable[[float, float], LonLat], lon: float, lat: float, start: LonLat
) -> LonLat:
    """Solve forward(p) == (lon, lat) by fixed-point iteration from `start`.

    Converges because both forward maps are the identity plus a shift whose derivative
    is tiny, so correcting by the residual is a Newton step with the Jacobian taken as 1.
    """
    x, y = start
    for _ in range(_MAX_ITERATIONS):
        fx, fy = forward(x, y)
        dx, dy = fx - lon, fy - lat
        if abs(dx) < _TOLERANCE and abs(dy) < _TOLERANCE:
            break
        x, y = x - dx, y - dy
    return x, y


def wgs84_to_gcj02(lon: float, lat: float) -> LonLat:
    """WGS84 → GCJ-02 by the public algorithm; unchanged outside China."""
    if out_of_china(lon, lat):
        return float(lon), float(lat)
    dlon, dlat = _gcj02_offset(lon, lat)
    return lon + dlon, lat + dlat


def _gcj02_shift_unboxed(lon: float, lat: float) -> LonLat:
    # The box test is made once, on the caller's input, so the iteration cannot flip
    # between shifted and unshifted.  Within ~1 km of the box edge the forward map is
    # not one-to-one and no inverse can be exact, but every edge lies ~1.5° or more
    # beyond Chinese territory, so no real Chinese point is affected.
    dlon, dlat = _gcj02_offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: float, lat: float) -> LonLat:
    """GCJ-02 → WGS84, the exact inverse of wgs84_to_gcj02 (residual < 1e-9°, ~0.1 mm)."""
    if out_of_china(lon, lat):
        return float(lon), float(lat)
    # The one-step "subtract the shift at the GCJ point" is the usual published
    # inverse; it is off by up to a few metres, so use it only as the starting guess.
    dlon, dlat = _gcj02_offset(lon, lat)
    return _invert(_gcj02_shift_unboxed, lon, lat, (lon - dlon, lat - dlat))


# --- GCJ-02 <-> BD-09 -------------------------------------------------------------

_X_PI = math.pi * 3000.0 / 180.0


def gcj02_to_bd09(lon: float, lat: float) -> LonLat:
    """GCJ-02 → BD-09 by Baidu's published formula.

    Unlike GCJ-02 it is applied everywhere, as the widely used implementations do.
    """
    z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def bd09_to_gcj02(lon: float, lat: float) -> LonLat:
    """BD-09 → GCJ-02, the exact inverse of gcj02_to_bd09 (residual < 1e-9°)."""
    # The published reverse formula only flips the signs of the perturbations and is
    # off by up to ~0.2 m; it serves as the starting guess.
    x, y = lon - 0.0065, lat - 0.006
    z = math.hypot(x, y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return _invert(gcj02_to_bd09, lon, lat, (z * math.cos(theta), z * math.sin(theta)))


def wgs84_to_bd09(lon: float, lat: float) -> LonLat:
    """WGS84 → BD-09 (through GCJ-02, which is what Baidu's offset is defined on)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: float, lat: float) -> LonLat:
    """BD-09 → WGS84, exact inverse of wgs84_to_bd09."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


# --- entry points -------------------------------------------------------------------


@dataclass(frozen=True)
class Conversion:
    """A position brought to WGS84, with what was done to it for the audit trail."""

    lon: float
    lat: float
    crs: CRS
    applied: str
    note: str


# applied (machine string), then the note in Chinese and in English.
_NOTES: dict[CRS, tuple[str, str, str]] = {
    CRS.WGS84: ("none", "已是 WGS84，未转换", "already WGS84, not converted"),
    CRS.CGCS2000: (
        "cgcs2000_as_wgs84",
        "CGCS2000 按 WGS84 处理（两者相差远小于 1 米），未做改正",
        "CGCS2000 accepted as WGS84 (they differ by far less than a metre), not shifted",
    ),
    CRS.GCJ02: (
        "gcj02_to_wgs84",
        "GCJ-02 已转换为 WGS84（迭代反算，误差 < 1 cm）",
        "converted GCJ-02 to WGS84 (iterative inverse, error < 1 cm)",
    ),
    CRS.BD09: (
        "bd09_to_wgs84",
        "BD-09 已经 GCJ-02 转换为 WGS84（迭代反算，误差 < 1 cm）",
        "converted BD-09 to WGS84 via GCJ-02 (iterative inverse, error < 1 cm)",
    ),
}

_TO_WGS84: dict[CRS, Callable[[float, float], LonLat]] = {
    CRS.GCJ02: gcj02_to_wgs84,
    CRS.BD09: bd09_to_wgs84,
}
_FROM_WGS84: dict[CRS, Callable[[float, float], LonLat]] = {
    CRS.GCJ02: wgs84_to_gcj02,
    CRS.BD09: wgs84_to_bd09,
}


def _identity(lon: float, lat: float) -> LonLat:
    return float(lon), float(lat)


def to_wgs84(lon: float, lat: float, crs: CRS | str) -> Conversion:
    """Validate (lon, lat) given in `crs` and convert it to WGS84."""
    crs = CRS.parse(crs)
    validate_lonlat(lon, lat)
    out_lon, out_lat = _TO_WGS84.get(crs, _identity)(lon, lat)
    applied, note_zh, note_en = _NOTES[crs]
    if crs is CRS.GCJ02 and out_of_china(lon, lat):
        # The machine string stays stable for callers; only the human text says why
        # nothing moved, which usually means the input was mislabelled as GCJ-02.
        note_zh += "；该点在中国范围外，GCJ-02 偏移为零"
        note_en += "; the point is outside China, where the GCJ-02 shift is zero"
    note = f"{note_zh} / {note_en}"
    return Conversion(lon=out_lon, lat=out_lat, crs=crs, applied=applied, note=note)


def from_wgs84(lon: float, lat: float, crs: CRS | str) -> LonLat:
    """Convert a WGS84 (lon, lat) into `crs`, e.g. to draw it on an Amap or Baidu map."""
    crs = CRS.parse(crs)
    validate_lonlat(lon, lat)
    return _FROM_WGS84.get(crs, _identity)(lon, lat)
