"""The one geometry module: GeoJSON parsing and its errors, the validity check, areas in m²."""

from __future__ import annotations

import pytest
from pyproj import Geod
from shapely.geometry import Polygon
from shapely.geometry import box as sbox

from gridmap.geometry import GeometryError, area_m2, from_geojson

SHELL = [(98.0, 39.0), (98.01, 39.0), (98.01, 39.01), (98.0, 39.01)]
HOLE = [(98.002, 39.002), (98.004, 39.002), (98.004, 39.004), (98.002, 39.004)]


def test_area_takes_holes_off_whichever_way_they_are_wound():
    geod = Geod(ellps="WGS84")
    expected = abs(geod.geometry_area_perimeter(sbox(98.0, 39.0, 98.01, 39.01))[0]) - abs(
        geod.geometry_area_perimeter(sbox(98.002, 39.002, 98.004, 39.004))[0]
    )
    same_way = Polygon(SHELL, [HOLE])  # the hole wound like the shell
    other_way = Polygon(SHELL, [HOLE[::-1]])
    assert area_m2(same_way) == pytest.approx(expected, rel=1e-9)
    assert area_m2(other_way) == pytest.approx(expected, rel=1e-9)


def test_swapped_lat_lon_is_refused_with_the_coordinate():
    value = {"type": "Polygon", "coordinates": [[[39, 98], [39.1, 98], [39.1, 98.1], [39, 98]]]}
    with pytest.raises(GeometryError) as err:
        from_geojson(value, "geometry", ("Polygon",))
    assert err.value.code == "invalid_coordinates"
    assert err.value.where == {"field": "geometry", "point": [39, 98]}


def test_a_self_intersecting_polygon_is_refused_with_where():
    bowtie = [[98.0, 39.0], [98.01, 39.01], [98.01, 39.0], [98.0, 39.01], [98.0, 39.0]]
    with pytest.raises(GeometryError) as err:
        from_geojson({"type": "Polygon", "coordinates": [bowtie]}, "area", ("Polygon",))
    assert err.value.code == "invalid_geometry"
    assert err.value.where["point"] == pytest.approx([98.005, 39.005])
