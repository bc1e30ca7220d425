"""The exchange benchmark (issue 7): GeoJSON export of the published units and buildings over
HTTP (time, throughput, the gunicorn worker's peak memory), OGC API items pages and vector tiles,
each beside tipg serving the same tables in the same run, and djangorestframework-gis'
GeoFeatureModelSerializer on the same rows.

Imported by bench/run.py (`--only exchange`) after Django is set up; tipg runs from its own venv
(bench/.venv-tipg, made by scripts/bench-tipg.sh). See docs/benchmarks.md.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import statistics
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from django.contrib.gis.geos import Polygon
from django.db import connection
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from bench.db import scalar, topped_up
from bench.dispatch import (
    _UNIFORM,
    _database_url,
    dispatch_points,
    dispatcher_token,
    free_port,
    gunicorn,
    serving,
)
from gridmap.models import GridUnit
from layers.models import Building, PlatformToken

ROOT = Path(__file__).resolve().parent.parent
TIPG_VENV = ROOT / "bench" / ".venv-tipg"

# The city: 1,000,000 buildings; the generator draws ~76,500 along the streets.
BUILDINGS = 1_000_000

# The rest as small rectangles (8–16 × 12–28 m, any rotation) centred on random points inside the
# grids, built in metres and scaled to degrees at their latitude (7 decimals, as the generated
# ones), so the point (their anchor) is in the grid they are assigned to. Kind, floors, units and
# the road (one of the city's road names) are hashes of the building's number and the seed, as
# the camera top-up draws its cameras.
TOP_UP_BUILDINGS = f"""
    INSERT INTO layers_building (name, road, number, kind, floors, units, footprint, grid_id)
    SELECT '', roads.names[1 + floor({_UNIFORM.format(salt="road")}
                                     * array_length(roads.names, 1))::int],
           (1 + floor(300 * {_UNIFORM.format(salt="number")}))::int || '号',
           k.kind,
           CASE k.kind WHEN 'residential' THEN 3 + floor(16 * {_UNIFORM.format(salt="floors")})
                       WHEN 'commercial' THEN 1 + floor(8 * {_UNIFORM.format(salt="floors")})
                       WHEN 'public' THEN 1 + floor(6 * {_UNIFORM.format(salt="floors")})
                       ELSE 1 + floor(2 * {_UNIFORM.format(salt="floors")}) END,
           1 + floor(3 * {_UNIFORM.format(salt="units")}),
           ST_SetSRID(ST_SnapToGrid(ST_Translate(ST_Scale(
               ST_Rotate(ST_MakeEnvelope(-s.w / 2, -s.l / 2, s.w / 2, s.l / 2), radians(s.angle)),
               1 / (111320 * cos(radians(ST_Y(b.pt)))), 1 / 110540.0), ST_X(b.pt), ST_Y(b.pt)),
               1e-7), 4326),
           b.grid_id
      FROM (SELECT %(first)s - 1 + row_number() OVER (ORDER BY g.k, d.path) AS n,
                   d.geom AS pt, g.id AS grid_id
              FROM (SELECT id, geom, row_number() OVER (ORDER BY md5(code || %(seed)s)) AS k
                      FROM gridmap_gridunit WHERE level = 'grid') g,
                   LATERAL ST_Dump(ST_GeneratePoints(
                       g.geom, %(per_grid)s + (g.k <= %(extra)s)::int, (g.k + %(seed)s)::int)) d
           ) b,
           (SELECT array_agg(DISTINCT road ORDER BY road) AS names
              FROM layers_building WHERE road <> '') roads,
           LATERAL (SELECT 8 + 8 * {_UNIFORM.format(salt="width")} AS w,
                           12 + 16 * {_UNIFORM.format(salt="length")} AS l,
                           180 * {_UNIFORM.format(salt="angle")} AS angle,
                           {_UNIFORM.format(salt="kind")} AS u) s,
           LATERAL (SELECT CASE WHEN s.u < 0.58 THEN 'residential'
                                WHEN s.u < 0.78 THEN 'commercial'
                                WHEN s.u < 0.95 THEN 'public'
                                ELSE 'industrial' END AS kind) k
"""

# The same rows on every side: what each serves, by URL.
EXPORTS = {
    "units": {
        "gridmap": "/api/export/units.geojson?level=grid",
        "tipg": "/collections/public.gridmap_gridunit/items?level=grid&limit={n}"
        "&properties=code,name,level,version&f=geojson",
        "sql": "SELECT count(*) FROM gridmap_gridunit WHERE level = 'grid'",
    },
    "buildings": {
        "gridmap": "/api/export/buildings.geojson",
        "tipg": "/collections/public.layers_building/items?limit={n}"
        "&properties=name,road,number,kind,floors&f=geojson",
        "sql": "SELECT count(*) FROM layers_building",
    },
}
TIPG_ITEMS = (
    "/collections/public.layers_building/items?limit={limit}&bbox={bbox}"
    "&properties=name,road,number,kind,floors&f=geojson"
)
TIPG_TILE = (
    "/collections/public.layers_building/tiles/WebMercatorQuad/{z}/{x}/{y}"
    "?properties=name,road,number,kind,floors"
)

# Half-widths (lon, lat) in degrees of the random boxes of an items page: ~430 × 440 m for
# limit=100 (a median of 140 buildings: most pages are full), ~1.3 km square for limit=1000
# (a median of 1,060).
BOXES = {100: (0.0025, 0.002), 1000: (0.0075, 0.006)}
TILE_ZOOMS = (15, 16)

# Matches each Feature once in both servers' output (PostgreSQL's json text writes `"type" :
# "Feature"`, orjson `"type":"Feature"`); "FeatureCollection" has no quote after "Feature".
FEATURE = b'"Feature"'


def ensure_buildings(total: int, seed: int) -> None:
    """Top the city's buildings up to `total` once, recorded in bench_meta; VACUUM ANALYZE after."""
    done, have, wanted = topped_up("buildings", "layers_building", total, seed)
    if done:
        print(f"buildings already topped up: {wanted}")
        return
    grids = scalar("SELECT count(*) FROM gridmap_gridunit WHERE level = 'grid'")
    missing = total - have
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            TOP_UP_BUILDINGS,
            {
                "first": have + 1,
                "per_grid": missing // grids,
                "extra": missing % grids,
                "seed": seed,
            },
        )
        added = cursor.rowcount
        cursor.execute(
            "INSERT INTO bench_meta VALUES ('buildings', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = %s",
            [wanted, wanted],
        )
        # VACUUM too: hint bits and the visibility map set now, not by the first export.
        cursor.execute("VACUUM ANALYZE layers_building")
    print(f"buildings: {have} + {added} in {time.perf_counter() - started:.1f} s")


def exchange_token() -> str:
    """A platform token (平台令牌) that may read units and buildings, with no practical rate limit
    (a benchmark is not what the limit is for)."""
    token = PlatformToken.objects.filter(name="bench-exchange").first() or PlatformToken(
        name="bench-exchange"
    )
    token.layers = ["units", "buildings"]
    token.requests_per_minute = 10_000_000
    token.revoked_at = None
    token.save()
    return token.key


# --- the servers ---------------------------------------------------------------------------------


def _tipg_database_url() -> str:
    """The bench database's URL (bench/dispatch.py's) as tipg takes it: its settings want a host
    in the URL, so a socket directory given as `?host=` moves there, percent-encoded (asyncpg
    decodes it)."""
    url = urllib.parse.urlsplit(_database_url())
    query = dict(urllib.parse.parse_qsl(url.query))
    auth, _, host = url.netloc.rpartition("@")
    if "host" in query:
        host = urllib.parse.quote(query.pop("host"), safe="")
        if "port" in query:
            host += f":{query.pop('port')}"
    netloc = f"{auth}@{host}" if auth else host
    return urllib.parse.urlunsplit(
        ("postgresql", netloc, url.path, urllib.parse.urlencode(query), "")
    )


@contextmanager
def tipg(port: int) -> Iterator[int]:
    """tipg under uvicorn (one process, as tipg's docs run it) on 127.0.0.1:`port`, serving the
    two tables; stopped on leaving, whatever happens inside. Yields the server's pid."""
    uvicorn = TIPG_VENV / "bin" / "uvicorn"
    if not uvicorn.exists():
        raise SystemExit("tipg is not installed: run scripts/bench-tipg.sh (make bench does)")
    env = {
        **os.environ,
        "DATABASE_URL": _tipg_database_url(),
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_DB_TABLES": '["public.layers_building", "public.gridmap_gridunit"]',
        "TIPG_TABLE_CONFIG__public_layers_building__GEOMCOL": "footprint",
        "TIPG_TABLE_CONFIG__public_layers_building__PK": "id",
        "TIPG_TABLE_CONFIG__public_gridmap_gridunit__GEOMCOL": "geom",
        "TIPG_TABLE_CONFIG__public_gridmap_gridunit__PK": "id",
        # A full export in one items request, as GridMap's export is one request.
        "TIPG_MAX_FEATURES_PER_QUERY": str(10 * BUILDINGS),
        # No catalogue refresh in the middle of a measurement.
        "TIPG_CATALOG_TTL": "86400",
    }
    command = [
        str(uvicorn),
        "tipg.main:app",
        "--host=127.0.0.1",
        f"--port={port}",
        "--log-level=warning",
        "--no-access-log",
    ]
    with (
        tempfile.TemporaryDirectory(prefix="tipg-bench-") as cwd,  # no stray .env read
        serving(
            command,
            env,
            lambda server, log: _wait_for(server, port, "/collections/public.layers_building", log),
            prefix="tipg-bench-",
            cwd=cwd,
        ) as pid,
    ):
        yield pid


def _wait_for(server: subprocess.Popen, port: int, path: str, log) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"tipg exited with {server.returncode}:\n{log.read()[-3000:]}")
        try:
            status, *_ = _request(port, path)
        except OSError:
            time.sleep(0.3)
            continue
        if status != 200:
            log.seek(0)
            raise RuntimeError(f"GET {path} answered {status}:\n{log.read()[-3000:]}")
        return
    raise RuntimeError("tipg did not answer within 120 s")


def _worker(master: int) -> int:
    """The one worker of a gunicorn master (started with one worker)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn has no worker")


def _memory_mb(pid: int) -> dict[str, float]:
    """From /proc/<pid>/status, in MB: VmHWM (the most resident memory the process has had),
    VmRSS, and of the resident memory the anonymous part (heap: what the process itself holds)
    and the file-backed part (mapped libraries, shared between workers)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) * 1024 / 1e6
    return fields


# --- requests --------------------------------------------------------------------------------


def _request(port: int, path: str, headers: dict | None = None) -> tuple[int, float, int, float]:
    """One GET on a fresh connection: status, client wall ms, body bytes, server ms
    (Server-Timing, NaN where the server sends none)."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        timing = response.getheader("Server-Timing", "")
    finally:
        conn.close()
    wall = (time.perf_counter() - started) * 1000
    server = float(timing.split("dur=")[1]) if "dur=" in timing else float("nan")
    return response.status, wall, len(body), server


def _stream(port: int, path: str, headers: dict | None = None) -> dict:
    """GET `path`, the body read in chunks and written to /dev/null: seconds to the last byte,
    bytes and Features counted on the way (a Feature split across two chunks counted once)."""
    features = size = 0
    tail = b""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}: {response.read()[:500]}")
        with open(os.devnull, "wb") as sink:
            while chunk := response.read(1 << 20):
                sink.write(chunk)
                size += len(chunk)
                features += (tail + chunk[: len(FEATURE) - 1]).count(FEATURE) + chunk.count(FEATURE)
                tail = chunk[-(len(FEATURE) - 1) :]
    finally:
        conn.close()
    return {"seconds": time.perf_counter() - started, "bytes": size, "features": features}


def _gridmap_export(port: int, path: str, token: str) -> dict:
    """One export from a fresh gunicorn (one sync worker), so the worker's VmHWM is that of its
    start and warm-up request (before) and then of this export (after)."""
    with gunicorn(1, port, dispatcher_token()) as master:
        worker = _worker(master)
        before = _memory_mb(worker)
        result = _stream(port, path, {"Authorization": f"Bearer {token}"})
        after = _memory_mb(worker)
    return {**result, "memory_before_mb": before, "memory_after_mb": after}


def _tipg_export(port: int, path: str) -> dict:
    """One export from a fresh tipg, measured as GridMap's."""
    with tipg(port) as pid:
        before = _memory_mb(pid)
        result = _stream(port, path)
        after = _memory_mb(pid)
    return {**result, "memory_before_mb": before, "memory_after_mb": after}


def _export_summary(runs: list[dict]) -> dict:
    seconds = statistics.median(r["seconds"] for r in runs)
    return {
        "seconds": seconds,
        "runs_s": [round(r["seconds"], 3) for r in runs],
        "features": runs[0]["features"],
        "bytes": runs[0]["bytes"],
        "features_per_s": runs[0]["features"] / seconds,
        "mb_per_s": runs[0]["bytes"] / seconds / 1e6,
        # The server process's peak resident memory over the export, and what it was before.
        "peak_mb": max(r["memory_after_mb"]["VmHWM"] for r in runs),
        "peak_before_mb": max(r["memory_before_mb"]["VmHWM"] for r in runs),
        "runs": [{k: r[k] for k in ("memory_before_mb", "memory_after_mb")} for r in runs],
    }


def bench_exports(repeat: int, gridmap_port: int, tipg_port: int, token: str) -> dict:
    """Full exports, GridMap and tipg alternating which goes first, each from a fresh server."""
    results = {}
    for name, urls in EXPORTS.items():
        rows = scalar(urls["sql"])
        tipg_path = urls["tipg"].format(n=rows)
        runs: dict[str, list] = {"gridmap": [], "tipg": []}
        for i in range(repeat):
            for side in ("gridmap", "tipg") if i % 2 == 0 else ("tipg", "gridmap"):
                if side == "gridmap":
                    run = _gridmap_export(gridmap_port, urls["gridmap"], token)
                else:
                    run = _tipg_export(tipg_port, tipg_path)
                if run["features"] != rows:
                    raise RuntimeError(f"{side} exported {run['features']} {name}, not {rows}")
                runs[side].append(run)
                print(
                    f"  export {name}, {side}: {run['features']:,} features, "
                    f"{run['bytes'] / 1e6:.0f} MB in {run['seconds']:.2f} s, peak RSS "
                    f"{run['memory_after_mb']['VmHWM']:.0f} MB "
                    f"(before {run['memory_before_mb']['VmHWM']:.0f} MB)"
                )
        results[name] = {side: _export_summary(side_runs) for side, side_runs in runs.items()}
        results[name]["rows"] = rows
        results[name]["ratio_throughput"] = (
            results[name]["gridmap"]["features_per_s"] / results[name]["tipg"]["features_per_s"]
        )
    return results


# --- DRF-GIS on the same rows -------------------------------------------------------------------


class BuildingFeatures(GeoFeatureModelSerializer):
    class Meta:
        model = Building
        geo_field = "footprint"
        fields = ("id", "footprint", "name", "road", "number", "kind", "floors")


class UnitFeatures(GeoFeatureModelSerializer):
    parent_code = serializers.CharField(source="parent.code", default=None)

    class Meta:
        model = GridUnit
        geo_field = "geom"
        fields = ("id", "geom", "code", "name", "level", "parent_code", "version")


def _drf(serializer: type[GeoFeatureModelSerializer], queryset) -> tuple[float, int, int]:
    """The rows read, serialized and rendered as a view would: seconds, features, bytes."""
    started = time.perf_counter()
    data = serializer(queryset, many=True).data
    body = JSONRenderer().render(data)
    seconds = time.perf_counter() - started
    return seconds, len(data["features"]), len(body)


def sample_box(share: float) -> tuple[float, float, float, float]:
    """A square around the middle of the buildings' extent holding about `share` of them."""
    xmin, ymin, xmax, ymax = scalar(
        "SELECT ARRAY[ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)] "
        "FROM (SELECT ST_Extent(footprint) AS e FROM layers_building) x"
    )
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    # The city is a disc filling its extent: area share × π r², as a square in metres.
    r_lat = (ymax - ymin) / 2
    half_lat = math.sqrt(share * math.pi) * r_lat / 2
    half_lon = half_lat * (xmax - xmin) / (ymax - ymin)
    return (cx - half_lon, cy - half_lat, cx + half_lon, cy + half_lat)


def bench_drf(repeat: int, port: int, token: str, share: float) -> dict:
    """Per-feature throughput of GeoFeatureModelSerializer + JSONRenderer (in-process) against
    GridMap's export of exactly the same rows over HTTP: all grids, and the buildings in a box
    in the middle of the city (`?bbox=`, the same ST_Intersects test as the queryset's)."""
    # Rounded as the URL carries it, so both sides test the same box.
    box = tuple(round(v, 6) for v in sample_box(share))
    bbox = ",".join(f"{v:.6f}" for v in box)
    samples = {
        "units": (
            UnitFeatures,
            GridUnit.objects.filter(level="grid").select_related("parent").order_by("id"),
            "/api/export/units.geojson?level=grid",
        ),
        "buildings": (
            BuildingFeatures,
            Building.objects.filter(footprint__intersects=Polygon.from_bbox(box)).order_by("id"),
            f"/api/export/buildings.geojson?bbox={bbox}",
        ),
    }
    results = {}
    with gunicorn(1, port, dispatcher_token()):
        for name, (serializer, queryset, path) in samples.items():
            _drf(serializer, queryset[:1000])  # GDAL loaded, the statement's first run
            drf, ours = [], []
            for _ in range(repeat):
                seconds, features, size = _drf(serializer, queryset)
                drf.append(seconds)
                run = _stream(port, path, {"Authorization": f"Bearer {token}"})
                ours.append(run["seconds"])
                if run["features"] != features:
                    raise RuntimeError(
                        f"DRF-GIS serialized {features} {name}, GridMap exported {run['features']}"
                    )
                print(
                    f"  DRF-GIS {name}: {features:,} features in {seconds:.2f} s "
                    f"({size / 1e6:.0f} MB); GridMap export of the same {run['seconds']:.2f} s "
                    f"({run['bytes'] / 1e6:.0f} MB)"
                )
            results[name] = {
                "features": features,
                "drf_s": statistics.median(drf),
                "gridmap_s": statistics.median(ours),
                "drf_bytes": size,
                "gridmap_bytes": run["bytes"],
                "drf_features_per_s": features / statistics.median(drf),
                "gridmap_features_per_s": features / statistics.median(ours),
                "ratio": statistics.median(drf) / statistics.median(ours),
            }
    results["buildings"]["bbox"] = box
    return results


# --- OGC items pages and tiles ------------------------------------------------------------------


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _tiles(points: list[tuple[float, float]], z: int, n: int) -> list[tuple[int, int, int]]:
    """The first `n` distinct tiles at zoom `z` that hold one of the points."""
    seen: dict[tuple[int, int, int], None] = {}
    for lon, lat in points:
        seen.setdefault((z, *_tile_of(lon, lat, z)), None)
        if len(seen) == n:
            break
    return list(seen)


def _pairs(gridmap_port: int, tipg_port: int, token: str, paths: list[tuple[str, str]]) -> dict:
    """Each pair of paths (GridMap's, tipg's) requested once, alternating which goes first."""
    rows: dict[str, list] = {"gridmap": [], "tipg": []}
    for i, (ours, theirs) in enumerate(paths):
        order = [("gridmap", ours), ("tipg", theirs)]
        for side, path in order if i % 2 == 0 else order[::-1]:
            if side == "gridmap":
                status, wall, size, server = _request(
                    gridmap_port, path, {"Authorization": f"Bearer {token}"}
                )
            else:
                status, wall, size, server = _request(tipg_port, path)
            if status not in (200, 204):
                raise RuntimeError(f"{side}: GET {path} answered {status}")
            rows[side].append((wall, size, server))
    result = {}
    for side, values in rows.items():
        array = np.array(values)
        result[side] = {
            "p50_ms": float(np.percentile(array[:, 0], 50)),
            "p99_ms": float(np.percentile(array[:, 0], 99)),
            "mean_ms": float(array[:, 0].mean()),
            "median_bytes": int(np.median(array[:, 1])),
        }
        if side == "gridmap":
            result[side]["server_p50_ms"] = float(np.nanpercentile(array[:, 2], 50))
            result[side]["server_p99_ms"] = float(np.nanpercentile(array[:, 2], 99))
    result["requests"] = len(paths)
    result["ratio_p50"] = result["gridmap"]["p50_ms"] / result["tipg"]["p50_ms"]
    result["ratio_p99"] = result["gridmap"]["p99_ms"] / result["tipg"]["p99_ms"]
    return result


def _items_paths(points: list[tuple[float, float]], limit: int) -> list[tuple[str, str]]:
    dlon, dlat = BOXES[limit]
    paths = []
    for lon, lat in points:
        bbox = f"{lon - dlon:.6f},{lat - dlat:.6f},{lon + dlon:.6f},{lat + dlat:.6f}"
        paths.append(
            (
                f"/ogc/collections/buildings/items?limit={limit}&bbox={bbox}",
                TIPG_ITEMS.format(limit=limit, bbox=bbox),
            )
        )
    return paths


def _features_in(port: int, path: str, headers: dict | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers=headers or {})
        return len(json.loads(conn.getresponse().read())["features"])
    finally:
        conn.close()


def bench_pages_and_tiles(
    requests: int, seed: int, gridmap_port: int, tipg_port: int, token: str
) -> dict:
    """OGC items pages (limit 100 and 1000, random boxes) and tiles at z15/z16 (the tiles of
    random points), the same requests on both sides, interleaved; client wall time per request,
    a fresh connection each."""
    # Several points of a small box or a tile can fall in one tile: more points than tiles.
    points = dispatch_points(min(4 * requests, 20_000), seed)
    plans = {f"items limit={limit}": _items_paths(points[:requests], limit) for limit in BOXES}
    for z in TILE_ZOOMS:
        plans[f"tiles z{z}"] = [
            (f"/tiles/buildings/{z}/{x}/{y}.pbf", TIPG_TILE.format(z=z, x=x, y=y))
            for z, x, y in _tiles(points, z, requests)
        ]
    results = {}
    with gunicorn(1, gridmap_port, dispatcher_token()), tipg(tipg_port):
        auth = {"Authorization": f"Bearer {token}"}
        # The same rows on both sides: a few pages compared feature for feature.
        for ours, theirs in plans["items limit=100"][:20]:
            mine, others = _features_in(gridmap_port, ours, auth), _features_in(tipg_port, theirs)
            if mine != others:
                raise RuntimeError(f"{ours}: GridMap {mine} features, tipg {others}")
        for name, paths in plans.items():
            _pairs(gridmap_port, tipg_port, token, paths[:20])  # connections, caches, plans
            results[name] = _pairs(gridmap_port, tipg_port, token, paths)
            r = results[name]
            print(
                f"  {name}: GridMap p50 {r['gridmap']['p50_ms']:.1f} / p99 "
                f"{r['gridmap']['p99_ms']:.1f} ms, tipg p50 {r['tipg']['p50_ms']:.1f} / p99 "
                f"{r['tipg']['p99_ms']:.1f} ms ({r['requests']} each)"
            )
    return results


def bench_exchange(
    repeat: int, requests: int, seed: int, port: int, drf_share: float = 0.1
) -> dict:
    """The issue's measurement; see the module docstring."""
    ensure_buildings(BUILDINGS, seed)
    token = exchange_token()
    gridmap_port = free_port(port)
    tipg_port = free_port(port + 1)
    print(
        f"exchange: gunicorn (1 sync worker) on port {gridmap_port}, tipg (uvicorn) on port "
        f"{tipg_port}; {repeat} repetition(s) of each export, {requests} requests per kind of "
        "page and tile"
    )
    load_before = os.getloadavg()
    exports = bench_exports(repeat, gridmap_port, tipg_port, token)
    drf = bench_drf(repeat, gridmap_port, token, drf_share)
    pages = bench_pages_and_tiles(requests, seed, gridmap_port, tipg_port, token)
    return {
        "buildings": scalar("SELECT count(*) FROM layers_building"),
        "repeat": repeat,
        "requests": requests,
        "seed": seed,
        "tipg": _tipg_version(),
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "export": exports,
        "drf": drf,
        "pages": pages,
    }


def _tipg_version() -> str:
    return subprocess.run(
        [str(TIPG_VENV / "bin" / "python"), "-c", "import tipg; print(tipg.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def print_exchange(result: dict) -> None:
    exports, drf, pages = result["export"], result["drf"], result["pages"]
    print(f"\n| exchange | GridMap | tipg {result['tipg']} / DRF-GIS | ratio | target |")
    print("|---|---|---|---|---|")
    for name, label in (("units", "20,000 grids"), ("buildings", "1,000,000 buildings")):
        e = exports[name]
        ours, theirs = e["gridmap"], e["tipg"]
        print(
            f"| export {name} ({e['rows']:,}), GeoJSON, time | {ours['seconds']:.2f} s | "
            f"{theirs['seconds']:.2f} s | — | — |"
        )
        print(
            f"| export {name}, throughput | {ours['features_per_s']:,.0f} features/s | "
            f"{theirs['features_per_s']:,.0f} features/s | {e['ratio_throughput']:.2f}× faster | "
            f"≥ 1× tipg |"
        )
        print(
            f"| export {name}, server process peak RSS (VmHWM; before the export) | "
            f"{ours['peak_mb']:.0f} MB ({ours['peak_before_mb']:.0f}) | "
            f"{theirs['peak_mb']:.0f} MB ({theirs['peak_before_mb']:.0f}) | — | "
            f"≤ 200 MB ({label}) |"
        )
    for name in ("units", "buildings"):
        d = drf[name]
        print(
            f"| same {d['features']:,} {name}: GridMap export vs DRF-GIS serializer | "
            f"{d['gridmap_features_per_s']:,.0f} features/s | "
            f"DRF-GIS {d['drf_features_per_s']:,.0f} features/s | {d['ratio']:.1f}× faster | "
            "≥ 20× |"
        )
    for name, r in pages.items():
        target = "p50 ≤ tipg" if name.startswith("tiles") else "—"
        print(
            f"| {name}, wall time p50 / p99 ({r['requests']} requests) | "
            f"{r['gridmap']['p50_ms']:.1f} / {r['gridmap']['p99_ms']:.1f} ms | "
            f"{r['tipg']['p50_ms']:.1f} / "
            f"{r['tipg']['p99_ms']:.1f} ms | {r['ratio_p50']:.2f}× / {r['ratio_p99']:.2f}× | "
            f"{target} |"
        )
