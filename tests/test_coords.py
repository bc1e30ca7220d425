"""Specification of gridmap.coords: WGS84/CGCS2000/GCJ-02/BD-09 conversion to WGS84."""

from __future__ import annotations

import math
import random

import pytest
from pyproj import Geod

from gridmap.coords import (
    CRS,
    Conversion,
    CoordinateError,
    UnknownCRS,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    to_wgs84,
    validate_lonlat,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")
CENTIMETRE = 0.01


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


def china_spread(n: int = 400, seed: int = 20240601) -> list[tuple[float, float]]:
    # Kept a degree inside the out-of-China box so that no point sits in the edge
    # strip where the shifted point may leave the box.
    rng = random.Random(seed)
    return [(rng.uniform(73.5, 135.0), rng.uniform(18.0, 53.5)) for _ in range(n)]


# Populated places from every corner of the country (WGS84 lon, lat).
CITIES = {
    "Beijing": (116.397, 39.909),
    "Shanghai": (121.473, 31.230),
    "Guangzhou": (113.264, 23.129),
    "Chengdu": (104.066, 30.572),
    "Urumqi": (87.617, 43.826),
    "Kashgar": (75.990, 39.470),
    "Lhasa": (91.117, 29.647),
    "Harbin": (126.535, 45.803),
    "Mohe": (122.540, 52.970),
    "Sanya": (109.510, 18.250),
    "Hohhot": (111.750, 40.840),
}

# --- published pairs ---------------------------------------------------------------

# (WGS84 lon, lat) -> (GCJ-02 lon, lat)
PUBLISHED_WGS84_TO_GCJ02 = [
    # googollee/eviltransform python/test.py (also go/transform_test.go), "shanghai"
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    # googollee/eviltransform python/test.py, "shenzhen"
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    # googollee/eviltransform python/test.py, "beijing"
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
    # wandergis/coordtransform README.md, wgs84togcj02(116.404, 39.915)
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),
    # hujiulong/gcoord test/unit/crs/WGS84.spec.ts, WGS84.to.GCJ02([123, 45]), 8 decimals
    ((123.0, 45.0), (123.00607541, 45.00197815)),
]

# (GCJ-02 lon, lat) -> (BD-09 lon, lat)
PUBLISHED_GCJ02_TO_BD09 = [
    # wandergis/coordtransform README.md, gcj02tobd09(116.404, 39.915)
    ((116.404, 39.915), (116.41036949371029, 39.92133699351021)),
    # hujiulong/gcoord test/unit/crs/GCJ02.spec.ts, GCJ02.to.BD09([123, 45]), 8 decimals
    ((123.0, 45.0), (123.00636499, 45.00636899)),
]


@pytest.mark.parametrize(("wgs", "gcj"), PUBLISHED_WGS84_TO_GCJ02)
def test_wgs84_to_gcj02_reproduces_published_pairs(wgs, gcj):
    assert wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=1e-7)


@pytest.mark.parametrize(("wgs", "gcj"), PUBLISHED_WGS84_TO_GCJ02)
def test_gcj02_to_wgs84_recovers_the_published_wgs84_point(wgs, gcj):
    # The published WGS84 inputs have 6-7 decimals, so a 1e-8° match means the
    # inverse is exact to well under a millimetre, not just "close".
    assert gcj02_to_wgs84(*gcj) == pytest.approx(wgs, abs=1e-8)


@pytest.mark.parametrize(("gcj", "bd"), PUBLISHED_GCJ02_TO_BD09)
def test_gcj02_to_bd09_reproduces_published_pairs(gcj, bd):
    assert gcj02_to_bd09(*gcj) == pytest.approx(bd, abs=1e-7)


@pytest.mark.parametrize(("gcj", "bd"), PUBLISHED_GCJ02_TO_BD09)
def test_bd09_to_gcj02_recovers_the_published_gcj02_point(gcj, bd):
    assert bd09_to_gcj02(*bd) == pytest.approx(gcj, abs=1e-7)


def test_bd09_to_gcj02_improves_on_the_published_approximate_inverse():
    # wandergis/coordtransform README.md publishes bd09togcj02(116.404, 39.915) =
    # (116.39762729119315, 39.90865673957631) from the one-shot formula; the exact
    # inverse lands within decimetres of it but maps back onto the input exactly.
    published = (116.39762729119315, 39.90865673957631)
    ours = bd09_to_gcj02(116.404, 39.915)
    assert metres(ours, published) < 0.2
    assert gcj02_to_bd09(*ours) == pytest.approx((116.404, 39.915), abs=1e-9)
    assert gcj02_to_bd09(*published) != pytest.approx((116.404, 39.915), abs=1e-9)


# --- accuracy of the inverses ------------------------------------------------------------


def test_gcj02_inverse_is_accurate_to_a_centimetre_across_china():
    worst = max(metres(gcj02_to_wgs84(*wgs84_to_gcj02(*p)), p) for p in china_spread())
    assert worst < CENTIMETRE


def test_bd09_inverse_is_accurate_to_a_centimetre_across_china():
    worst = max(metres(bd09_to_wgs84(*wgs84_to_bd09(*p)), p) for p in china_spread())
    assert worst < CENTIMETRE


def test_gcj02_inverse_leaves_a_forward_residual_below_1e_9_degrees():
    for p in china_spread():
        gcj = wgs84_to_gcj02(*p)
        assert wgs84_to_gcj02(*gcj02_to_wgs84(*gcj)) == pytest.approx(gcj, abs=1e-9)


def test_bd09_inverse_leaves_a_forward_residual_below_1e_9_degrees():
    for p in china_spread():
        bd = gcj02_to_bd09(*p)
        assert gcj02_to_bd09(*bd09_to_gcj02(*bd)) == pytest.approx(bd, abs=1e-9)


def test_conversions_return_tuples_of_floats_in_lon_lat_order():
    for fn in (
        wgs84_to_gcj02,
        gcj02_to_wgs84,
        gcj02_to_bd09,
        bd09_to_gcj02,
        wgs84_to_bd09,
        bd09_to_wgs84,
    ):
        out = fn(116, 40)
        assert isinstance(out, tuple)
        assert len(out) == 2
        assert all(type(v) is float for v in out)
        # lon stays near 116 and lat near 40: the order was not swapped.
        assert out == pytest.approx((116, 40), abs=0.02)


# --- the GCJ-02 shift itself ----------------------------------------------------------


@pytest.mark.parametrize("city", sorted(CITIES))
def test_gcj02_shift_is_100_to_700_metres_in_chinese_cities(city):
    p = CITIES[city]
    assert 100 < metres(wgs84_to_gcj02(*p), p) < 700


def test_gcj02_shift_is_nonzero_and_below_750_metres_everywhere_in_the_box():
    # In a band of western Qinghai/Gansu (lon ~92-99) the shift dips to ~20 m, so the
    # "100-700 m" rule of thumb only holds for where people live.
    shifts = [metres(wgs84_to_gcj02(*p), p) for p in china_spread()]
    assert min(shifts) > 10
    assert max(shifts) < 750


@pytest.mark.parametrize(
    "point",
    [(139.6917, 35.6895), (-0.1276, 51.5072), (151.2093, -33.8688), (-74.006, 40.7128)],
    ids=["tokyo", "london", "sydney", "new-york"],
)
def test_gcj02_is_wgs84_outside_china_in_both_directions(point):
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point
    conversion = to_wgs84(*point, "gcj02")
    assert (conversion.lon, conversion.lat) == point
    assert "outside China" in conversion.note
    assert "中国范围外" in conversion.note


def test_bd09_round_trips_outside_china_too():
    # Baidu's offset is applied everywhere (as the public implementations do), so
    # outside China only the BD-09 step moves the point, and it still inverts exactly.
    tokyo = (139.6917, 35.6895)
    assert wgs84_to_bd09(*tokyo) != tokyo
    assert metres(bd09_to_wgs84(*wgs84_to_bd09(*tokyo)), tokyo) < CENTIMETRE


# --- CRS names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "crs"),
    [
        ("wgs84", CRS.WGS84),
        ("WGS84", CRS.WGS84),
        ("wgs-84", CRS.WGS84),
        ("4326", CRS.WGS84),
        ("epsg:4326", CRS.WGS84),
        ("EPSG:4326", CRS.WGS84),
        ("cgcs2000", CRS.CGCS2000),
        ("CGCS2000", CRS.CGCS2000),
        ("4490", CRS.CGCS2000),
        ("epsg:4490", CRS.CGCS2000),
        ("gcj02", CRS.GCJ02),
        ("gcj-02", CRS.GCJ02),
        ("GCJ-02", CRS.GCJ02),
        ("bd09", CRS.BD09),
        ("bd-09", CRS.BD09),
        ("BD-09", CRS.BD09),
        ("bd09ll", CRS.BD09),
        (" gcj02 ", CRS.GCJ02),
        (CRS.BD09, CRS.BD09),
    ],
)
def test_every_crs_alias_parses(text, crs):
    assert CRS.parse(text) is crs


def test_crs_members_are_their_lowercase_names():
    assert [c.value for c in CRS] == ["wgs84", "cgcs2000", "gcj02", "bd09"]
    assert CRS.GCJ02 == "gcj02"


@pytest.mark.parametrize("text", ["xyz", "", "epsg:3857", "bd09mc", "4327"])
def test_unknown_crs_raises_with_chinese_then_english_message(text):
    with pytest.raises(UnknownCRS) as excinfo:
        CRS.parse(text)
    message = str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)
    assert message.index("未知坐标系") < message.index("unknown crs")
    assert f"'{text}'" in message
    assert "wgs84, cgcs2000, gcj02, bd09" in message


def test_unknown_crs_message_matches_the_documented_form():
    with pytest.raises(UnknownCRS) as excinfo:
        CRS.parse("xyz")
    assert str(excinfo.value) == (
        "未知坐标系 'xyz'，可用: wgs84, cgcs2000, gcj02, bd09 / "
        "unknown crs 'xyz'; use one of: wgs84, cgcs2000, gcj02, bd09"
    )


def test_to_wgs84_rejects_an_unknown_crs():
    with pytest.raises(UnknownCRS):
        to_wgs84(116.4, 39.9, "mars")


# --- to_wgs84 / from_wgs84 -------------------------------------------------------------


def test_wgs84_is_identity_and_applies_nothing():
    conversion = to_wgs84(116.4, 39.9, "epsg:4326")
    assert isinstance(conversion, Conversion)
    assert (conversion.lon, conversion.lat) == (116.4, 39.9)
    assert conversion.crs is CRS.WGS84
    assert conversion.applied == "none"
    assert conversion.note == "已是 WGS84，未转换 / already WGS84, not converted"


def test_cgcs2000_is_identity_and_says_so():
    conversion = to_wgs84(116.4, 39.9, "4490")
    assert (conversion.lon, conversion.lat) == (116.4, 39.9)
    assert conversion.crs is CRS.CGCS2000
    assert conversion.applied == "cgcs2000_as_wgs84"
    assert conversion.note.index("CGCS2000 按 WGS84 处理") < conversion.note.index(
        "CGCS2000 accepted as WGS84"
    )
    assert from_wgs84(116.4, 39.9, CRS.CGCS2000) == (116.4, 39.9)


def test_to_wgs84_from_gcj02_inverts_and_explains_in_both_languages():
    wgs = (116.377817, 39.911954)
    conversion = to_wgs84(*wgs84_to_gcj02(*wgs), CRS.GCJ02)
    assert metres((conversion.lon, conversion.lat), wgs) < CENTIMETRE
    assert conversion.crs is CRS.GCJ02
    assert conversion.applied == "gcj02_to_wgs84"
    assert conversion.note == (
        "GCJ-02 已转换为 WGS84（迭代反算，误差 < 1 cm） / "
        "converted GCJ-02 to WGS84 (iterative inverse, error < 1 cm)"
    )


def test_to_wgs84_from_bd09_inverts_and_explains_in_both_languages():
    wgs = (121.5272106, 31.1774276)
    conversion = to_wgs84(*from_wgs84(*wgs, "bd-09"), "bd-09")
    assert metres((conversion.lon, conversion.lat), wgs) < CENTIMETRE
    assert conversion.crs is CRS.BD09
    assert conversion.applied == "bd09_to_wgs84"
    assert conversion.note.index("BD-09 已经") < conversion.note.index("converted BD-09")


def test_from_wgs84_matches_the_direct_functions():
    p = (113.912316, 22.543847)
    assert from_wgs84(*p, "gcj02") == wgs84_to_gcj02(*p)
    assert from_wgs84(*p, "bd09") == wgs84_to_bd09(*p)
    assert from_wgs84(*p, "wgs84") == p


def test_conversion_is_immutable():
    conversion = to_wgs84(116.4, 39.9, "wgs84")
    with pytest.raises(AttributeError):
        conversion.lon = 0.0  # type: ignore[misc]


def test_integer_coordinates_are_accepted():
    conversion = to_wgs84(116, 40, "gcj02")
    assert type(conversion.lon) is float
    assert type(conversion.lat) is float
    validate_lonlat(-180, 90)


# --- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon", "lat", "where"),
    [
        (math.nan, 39.9, "lon"),
        (math.inf, 39.9, "lon"),
        (-math.inf, 39.9, "lon"),
        (180.0001, 39.9, "lon"),
        (-181, 39.9, "lon"),
        (116.4, math.nan, "lat"),
        (116.4, math.inf, "lat"),
        (116.4, 90.5, "lat"),
        (116.4, -91, "lat"),
    ],
)
def test_bad_lon_lat_raise_coordinate_error_naming_the_field(lon, lat, where):
    with pytest.raises(CoordinateError) as excinfo:
        validate_lonlat(lon, lat)
    assert excinfo.value.where == where
    assert isinstance(excinfo.value, ValueError)
    message = str(excinfo.value)
    field_zh = {"lon": "经度", "lat": "纬度"}[where]
    assert message.index(field_zh) < message.index(" / ")
    assert where in message.split(" / ", 1)[1]


@pytest.mark.parametrize("crs", list(CRS))
def test_to_wgs84_validates_before_converting(crs):
    with pytest.raises(CoordinateError) as excinfo:
        to_wgs84(116.4, 95.0, crs)
    assert excinfo.value.where == "lat"


def test_from_wgs84_validates_too():
    with pytest.raises(CoordinateError) as excinfo:
        from_wgs84(math.nan, 39.9, "gcj02")
    assert excinfo.value.where == "lon"


def test_the_boundaries_of_the_valid_range_are_accepted():
    for lon, lat in [(-180, -90), (180, 90), (0, 0)]:
        validate_lonlat(lon, lat)
