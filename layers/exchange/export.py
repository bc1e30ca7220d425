"""Export of a published layer: one RFC 7946 GeoJSON FeatureCollection streamed from a
server-side cursor (memory stays flat whatever the size), or a file — GeoPackage, Shapefile
(zipped, UTF-8 with a .cpg) or CSV — written in chunks through pyogrio."""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from django.db import connection, transaction

from layers.exchange.catalogue import Layer
from layers.exchange.query import Filters, select_features, where

if TYPE_CHECKING:
    import geopandas as gpd

# geopandas, pandas and pyogrio are imported where files are written, not here: they are 60 MB
# of every worker's memory, and most workers never write a file.

# Rows fetched from the server-side cursor at a time, and features per chunk sent to the client.
FETCH_ROWS = 2000

# A Shapefile's field names have at most 10 characters; these are named, not cut by GDAL.
SHAPEFILE_NAMES = {
    "parent_code": "parentcode",
    "reported_grid_code": "rep_grid",
    "reported_at": "reportedat",
    "households": "households",
}

FILE_FORMATS = {
    "gpkg": ("GPKG", "application/geopackage+sqlite3"),
    "shp.zip": ("ESRI Shapefile", "application/zip"),
    "csv": ("CSV", "text/csv; charset=utf-8"),
}


def geojson_chunks(layer: Layer, filters: Filters) -> Iterator[bytes]:
    """The FeatureCollection in pieces: head, features in batches, tail. The features are built
    by PostgreSQL (one text per row); Python only joins them."""
    sql, params = select_features(layer, filters)
    head = {"type": "FeatureCollection", "name": layer.name}
    yield json.dumps(head, ensure_ascii=False)[:-1].encode() + b', "features": ['
    first = True
    # A named cursor streams only inside a transaction (outside one Django holds it WITH HOLD,
    # which makes the server materialise the whole result before the first row).
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.itersize = FETCH_ROWS
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH_ROWS):
            text = ",\n".join(row[0] for row in rows)
            yield (text if first else ",\n" + text).encode()
            first = False
    yield b"]}\n"


def _frames(layer: Layer, filters: Filters, rows: int) -> Iterator[gpd.GeoDataFrame]:
    """The layer's rows as GeoDataFrames of at most `rows` rows, in id order."""
    import geopandas as gpd
    import shapely

    condition, params = where(layer, filters)
    columns = ["id", *layer.property_names]
    select = ", ".join(f"src.{c}" for c in columns)
    sql = f"""SELECT {select}, ST_AsBinary(src.geom)
                FROM ({layer.source}) src WHERE {condition} ORDER BY src.id"""
    dates = [p.name for p in layer.properties if p.format == "date-time"]
    types = {"id": "int64"} | {
        p.name: {"integer": "Int64", "boolean": "boolean"}[p.type]
        for p in layer.properties
        if p.type in ("integer", "boolean")
    }
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.itersize = rows
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(rows):
            records = [r[:-1] for r in batch]
            geometry = shapely.from_wkb([bytes(r[-1]) for r in batch])
            frame = gpd.GeoDataFrame(records, columns=columns, geometry=geometry, crs="EPSG:4326")
            for name, dtype in types.items():  # integers stay integers with gaps (not floats)
                frame[name] = frame[name].astype(dtype)
            for name in dates:  # ISO 8601 text: a Shapefile has no time zones
                frame[name] = [v.isoformat() if v is not None else None for v in frame[name]]
            yield frame


def write_file(layer: Layer, filters: Filters, fmt: str, folder: Path, rows: int = 50_000) -> Path:
    """Write the layer into `folder` as `fmt` (a key of FILE_FORMATS), chunk by chunk; returns
    the file to send."""
    import geopandas as gpd
    import pyogrio

    if fmt == "csv":
        return _write_csv(layer, filters, folder / f"{layer.name}.csv", rows)
    driver = FILE_FORMATS[fmt][0]
    target = folder / (f"{layer.name}.gpkg" if fmt == "gpkg" else f"{layer.name}.shp")
    written = False
    for frame in _frames(layer, filters, rows):
        if driver == "ESRI Shapefile":
            frame = frame.rename(columns=SHAPEFILE_NAMES)
        pyogrio.write_dataframe(
            frame,
            target,
            driver=driver,
            layer=layer.name,
            append=written,
            encoding="UTF-8" if driver == "ESRI Shapefile" else None,
            promote_to_multi=layer.geometry_type.startswith("Multi") or None,
        )
        written = True
    if not written:  # an empty layer is still a valid, empty file with the layer's fields
        empty = gpd.GeoDataFrame(
            {c: [] for c in ["id", *layer.property_names]}, geometry=[], crs="EPSG:4326"
        )
        pyogrio.write_dataframe(
            empty,
            target,
            driver=driver,
            layer=layer.name,
            geometry_type=layer.geometry_type,
            encoding="UTF-8" if driver == "ESRI Shapefile" else None,
        )
    if fmt == "gpkg":
        return target
    archive = folder / f"{layer.name}.shp.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(folder.glob(f"{layer.name}.*")):
            if part != archive:
                zf.write(part, part.name)
    return archive


def _write_csv(layer: Layer, filters: Filters, path: Path, rows: int) -> Path:
    """UTF-8 with a byte-order mark (so Excel reads the Chinese), WKT geometry, and lon/lat
    columns for point layers; straight from the cursor, row by row."""
    condition, params = where(layer, filters)
    points = layer.geometry_type == "Point"
    header = ["id", *layer.property_names]
    extra = ["lon", "lat"] if points else []
    select = ", ".join(f"src.{c}" for c in header)
    xy = (
        "round(ST_X(src.geom)::numeric, 7)::float8, round(ST_Y(src.geom)::numeric, 7)::float8,"
        if points
        else ""
    )
    sql = f"""SELECT {select}, {xy} ST_AsText(src.geom, 7)
                FROM ({layer.source}) src WHERE {condition} ORDER BY src.id"""
    with (
        path.open("w", encoding="utf-8-sig", newline="") as out,
        transaction.atomic(),
        connection.chunked_cursor() as cursor,
    ):
        writer = csv.writer(out)
        writer.writerow([*header, *extra, "wkt"])
        cursor.itersize = rows
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(rows):
            writer.writerows(
                ["" if v is None else v.isoformat() if hasattr(v, "isoformat") else v for v in r]
                for r in batch
            )
    return path


class TemporaryExport(io.RawIOBase):
    """A written export file, read once and then deleted with its folder."""

    def __init__(self, path: Path, folder: tempfile.TemporaryDirectory) -> None:
        self._file = path.open("rb")
        self._folder = folder

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._file.readinto(buffer)

    # Seekable, so the response can say its Content-Length.
    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        if not self.closed:
            self._file.close()
            self._folder.cleanup()
        super().close()
