"""The dispatch benchmark: GET /api/dispatch/ served by gunicorn to concurrent clients, its server
time (Server-Timing) against the three bare queries it rests on, run as concurrently.

Imported by bench/run.py (`--only dispatch`) after Django is set up; see docs/benchmarks.md.
"""

from __future__ import annotations

import http.client
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np
import psycopg2
from django.contrib.auth.models import Group, User
from django.db import connection
from rest_framework.authtoken.models import Token

from bench.db import scalar, topped_up

ROOT = Path(__file__).resolve().parent.parent

# The brief's city: 100,000 cameras; the generator puts ~28,600 on crossings and entrances.
CAMERAS = 100_000

# The rest at random points inside the grids, 3 or 4 per grid, with the field of view, range and
# status that layers.demo.synthcity.camera_specs draws (12 % domes of 30–60 m, bullets of 60–120°
# and 40–120 m; 92 % online, 5 % offline, 3 % fault). Every draw is a hash of the camera's
# number and the seed, so the top-up is the same on every machine and in any plan order.
_UNIFORM = (
    "(('x' || substr(md5(n::text || ':{salt}:' || %(seed)s), 1, 8))::bit(32)::bigint"
    " / 4294967296.0)"
)
TOP_UP_CAMERAS = f"""
    INSERT INTO layers_camera (code, name, location, bearing, fov, range_m, status, grid_id)
    SELECT %(prefix)s || lpad(n::text, 7, '0'), name, location,
           round((360 * {_UNIFORM.format(salt="bearing")})::numeric, 1),
           CASE WHEN dome THEN 360 ELSE 60 + floor(61 * {_UNIFORM.format(salt="fov")}) END,
           CASE WHEN dome THEN 30 + floor(31 * {_UNIFORM.format(salt="range")})
                ELSE 40 + floor(81 * {_UNIFORM.format(salt="range")}) END,
           CASE WHEN {_UNIFORM.format(salt="status")} < 0.92 THEN 'online'
                WHEN {_UNIFORM.format(salt="status")} < 0.97 THEN 'offline'
                ELSE 'fault' END,
           grid_id
      FROM (SELECT %(first)s - 1 + row_number() OVER (ORDER BY g.k, d.path) AS n,
                   g.name || '监控' AS name, d.geom AS location, g.id AS grid_id
              FROM (SELECT id, name, geom, row_number() OVER (ORDER BY md5(code || %(seed)s)) AS k
                      FROM gridmap_gridunit WHERE level = 'grid') g,
                   LATERAL ST_Dump(ST_GeneratePoints(
                       g.geom, %(per_grid)s + (g.k <= %(extra)s)::int, (g.k + %(seed)s)::int)) d
           ) c,
           LATERAL (SELECT {_UNIFORM.format(salt="dome")} < 0.12 AS dome) kind
"""

# A report somewhere in the city: one random point in each of `n` grids drawn by the seed.
POINTS = """
    SELECT ST_X(pt), ST_Y(pt)
      FROM (SELECT ST_GeometryN(ST_GeneratePoints(geom, 1, k::int), 1) AS pt, k
              FROM (SELECT geom, row_number() OVER (ORDER BY md5(code || ':' || %(seed)s)) AS k
                      FROM gridmap_gridunit WHERE level = 'grid') g
             WHERE k <= %(n)s) p
     ORDER BY k
"""

# --- the bare side: what any implementation has to ask the database -----------------------------

# The grid (lowest code on a shared edge), its three ancestors and its staff, prepared once per
# connection, as a hand-written lookup would be.
BARE_CHAIN_PREPARE = """
    PREPARE bare_chain(float8, float8) AS
    SELECT g.id, g.code, g.name, n.id, n.code, n.name, s.id, s.code, s.name,
           w.id, w.code, w.name,
           (SELECT json_agg(json_build_object('role', st.role, 'name', st.name, 'phone', st.phone))
              FROM gridmap_staffmember st WHERE st.unit_id = g.id)
      FROM gridmap_gridunit g
      LEFT JOIN gridmap_gridunit n ON n.id = g.parent_id
      LEFT JOIN gridmap_gridunit s ON s.id = n.parent_id
      LEFT JOIN gridmap_gridunit w ON w.id = s.parent_id
     WHERE g.level = 'grid' AND ST_Covers(g.geom, ST_SetSRID(ST_MakePoint($1, $2), 4326))
     ORDER BY g.code LIMIT 1
"""
BARE_CHAIN = "EXECUTE bare_chain(%s, %s)"

# Cameras whose range (metres on the ellipsoid) and angle hold the point: candidates by index in
# a box of the longest range, the exact test on those.
BARE_CAMERAS = """
    SELECT c.id, c.code, c.distance_m
      FROM (SELECT c.id, c.code, c.bearing, c.fov, c.range_m,
                   ST_Distance(c.location::geography, p.g) AS distance_m,
                   degrees(ST_Azimuth(c.location::geography, p.g)) - c.bearing AS off
              FROM layers_camera c,
                   (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography AS g) p
             WHERE c.location && ST_Expand(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326),
                                           %(dlon)s, %(dlat)s)) c
     WHERE c.distance_m <= c.range_m
       AND (c.fov >= 360 OR abs(c.off - 360 * floor((c.off + 180) / 360)) <= c.fov / 2)
     ORDER BY c.distance_m
"""

# Red and orange households within the radius: how many of each, and where (nearest first).
BARE_HOUSEHOLDS = """
    SELECT count(*) FILTER (WHERE color = 'red'), count(*) FILTER (WHERE color = 'orange'),
           json_agg(json_build_array(ST_X(location), ST_Y(location), color, distance_m)
                    ORDER BY distance_m)
      FROM (SELECT h.location, h.color, ST_Distance(h.location::geography, p.g) AS distance_m
              FROM layers_household h,
                   (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography AS g) p
             WHERE h.location && ST_Expand(ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326),
                                           %(dlon)s, %(dlat)s)
               AND h.color IN ('red', 'orange')) h
     WHERE distance_m <= %(radius)s
"""

RADIUS_M = 200  # the API's default radius for priority households


def _degrees(metres: float, lat: float) -> tuple[float, float]:
    """Half-widths (lon, lat) in degrees of a box that holds a circle of `metres` at `lat`."""
    dlat = metres / 110_500
    return metres / (111_300 * math.cos(math.radians(abs(lat) + dlat))), dlat


def ensure_cameras(total: int, seed: int) -> None:
    """Top the city's cameras up to `total` once, recorded in bench_meta; ANALYZE after."""
    done, have, wanted = topped_up("cameras", "layers_camera", total, seed)
    if done:
        print(f"cameras already topped up: {wanted}")
        return
    grids = scalar("SELECT count(*) FROM gridmap_gridunit WHERE level = 'grid'")
    network = scalar("SELECT min(code) FROM gridmap_gridunit WHERE level = 'network'")
    first = 1 + scalar(
        "SELECT coalesce(max(substring(code FROM 'C([0-9]+)$')::int), 0) FROM layers_camera"
    )
    missing = total - have
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            TOP_UP_CAMERAS,
            {
                "prefix": f"{network}C",
                "first": first,
                "per_grid": missing // grids,
                "extra": missing % grids,
                "seed": seed,
            },
        )
        added = cursor.rowcount
        cursor.execute(
            "INSERT INTO bench_meta VALUES ('cameras', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = %s",
            [wanted, wanted],
        )
        cursor.execute("ANALYZE layers_camera")
    print(f"cameras: {have} + {added} in {time.perf_counter() - started:.1f} s")


def dispatch_points(n: int, seed: int) -> list[tuple[float, float]]:
    with connection.cursor() as cursor:
        cursor.execute(POINTS, {"n": n, "seed": seed})
        return cursor.fetchall()


def dispatcher_token() -> str:
    """The token of a dispatcher (调度员): positions of priority households, no personal data."""
    user, _ = User.objects.get_or_create(username="bench-dispatcher")
    user.groups.add(Group.objects.get(name="dispatcher"))
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


# --- the server ---------------------------------------------------------------------------------


def _database_url() -> str:
    """The bench database as a DATABASE_URL for project/settings.py (dj-database-url)."""
    s = connection.settings_dict
    auth = urllib.parse.quote(s["USER"] or "", safe="")
    if s["PASSWORD"]:
        auth += ":" + urllib.parse.quote(s["PASSWORD"], safe="")
    netloc = f"{auth}@{s['HOST'] or ''}" + (f":{s['PORT']}" if s["PORT"] else "")
    query = urllib.parse.urlencode(s["OPTIONS"])
    return urllib.parse.urlunsplit(("postgis", netloc, "/" + s["NAME"], query, ""))


def free_port(preferred: int) -> int:
    """`preferred` if nothing listens there, else one the system picks."""
    with socket.socket() as probe:
        # As gunicorn binds: connections of an earlier run in TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]


@contextmanager
def gunicorn(workers: int, port: int, token: str) -> Iterator[int]:
    """Serve the project on 127.0.0.1:`port` with `workers` sync workers; stopped on leaving,
    whatever happens inside (an error, Ctrl-C, SIGTERM to the bench)."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "project.settings",
    }
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "project.wsgi",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        "--worker-class=sync",
        "--backlog=2048",
        "--log-level=warning",
        f"--chdir={ROOT}",
    ]
    with serving(
        command,
        env,
        lambda server, log: _wait_until_serving(server, port, token, log),
        prefix="gunicorn-bench-",
    ) as pid:
        yield pid


@contextmanager
def serving(
    command: list[str],
    env: dict[str, str],
    ready: Callable[[subprocess.Popen, IO], None],
    prefix: str,
    cwd: str | None = None,
) -> Iterator[int]:
    """Run `command` as a server (output to a temporary log), wait for `ready(server, log)`,
    give its pid; stopped on leaving whatever happens inside (an error, Ctrl-C, SIGTERM)."""
    # SIGTERM to the bench becomes SystemExit, so the finally below runs for it too.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with tempfile.NamedTemporaryFile("w+", prefix=prefix, suffix=".log") as log:
            server = subprocess.Popen(
                command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                ready(server, log)
                yield server.pid
            finally:
                server.terminate()
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _wait_until_serving(server: subprocess.Popen, port: int, token: str, log) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"gunicorn exited with {server.returncode}:\n{log.read()[-3000:]}")
        try:
            status, *_ = _get(port, token, (116.40, 39.90))
            if status != 200:
                log.seek(0)
                raise RuntimeError(f"GET /api/dispatch/ answered {status}:\n{log.read()[-3000:]}")
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer within 60 s")


def _get(port: int, token: str, point: tuple[float, float]) -> tuple[int, float, float, int]:
    """GET /api/dispatch/ at `point`: status, server ms (Server-Timing), client wall ms, bytes."""
    lon, lat = point
    started = time.perf_counter()
    # gunicorn's sync workers close the connection after each response: one connection each.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "GET",
            f"/api/dispatch/?lon={lon!r}&lat={lat!r}",
            headers={"Authorization": f"Token {token}", "Accept": "application/json"},
        )
        response = conn.getresponse()
        body = response.read()
        timing = response.getheader("Server-Timing", "")
    finally:
        conn.close()
    wall = (time.perf_counter() - started) * 1000
    server = float(timing.split("dur=")[1]) if "dur=" in timing else float("nan")
    return response.status, server, wall, len(body)


# --- running clients concurrently ---------------------------------------------------------------


def _concurrently(work: Callable[[list], list], chunks: list[list]) -> tuple[list, float]:
    """Run `work(chunk)` in a thread per chunk, all released at once; their results, and the
    wall time from the release to the last one done."""
    results: list = [None] * len(chunks)
    errors: list[BaseException] = []
    start = threading.Barrier(len(chunks) + 1)

    def run(i: int) -> None:
        try:
            start.wait()
            results[i] = work(chunks[i])
        except BaseException as exc:  # raised again in the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(chunks))]
    for t in threads:
        t.start()
    start.wait()
    released = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - released
    if errors:
        raise errors[0]
    return results, elapsed


def _chunks(points: list, clients: int) -> list[list]:
    per = len(points) // clients
    return [points[i * per : (i + 1) * per] for i in range(clients)]


def _http_side(port: int, token: str, chunks: list[list]) -> dict:
    def client(points: list) -> list[tuple[float, float, int]]:
        rows = []
        for point in points:
            status, server_ms, wall_ms, size = _get(port, token, point)
            if status != 200:
                raise RuntimeError(f"GET /api/dispatch/ at {point} answered {status}")
            rows.append((server_ms, wall_ms, size))
        return rows

    results, elapsed = _concurrently(client, chunks)
    rows = np.array([row for result in results for row in result])
    return {
        "server_ms": rows[:, 0],
        "client_ms": rows[:, 1],
        "response_bytes": rows[:, 2],
        "throughput_rps": len(rows) / elapsed,
    }


def _bare_side(chunks: list[list], max_range_m: float) -> dict:
    params = connection.get_connection_params()

    def client(points: list) -> list[tuple[float, ...]]:
        conn = psycopg2.connect(**params)
        conn.autocommit = True
        rows = []
        try:
            with conn.cursor() as cursor:
                cursor.execute(BARE_CHAIN_PREPARE)
                for lon, lat in points:
                    started = time.perf_counter()
                    cursor.execute(BARE_CHAIN, [lon, lat])
                    cursor.fetchone()
                    chained = time.perf_counter()
                    dlon, dlat = _degrees(max_range_m, lat)
                    cursor.execute(
                        BARE_CAMERAS, {"lon": lon, "lat": lat, "dlon": dlon, "dlat": dlat}
                    )
                    cursor.fetchall()
                    seen = time.perf_counter()
                    dlon, dlat = _degrees(RADIUS_M, lat)
                    cursor.execute(
                        BARE_HOUSEHOLDS,
                        {"lon": lon, "lat": lat, "dlon": dlon, "dlat": dlat, "radius": RADIUS_M},
                    )
                    cursor.fetchone()
                    done = time.perf_counter()
                    rows.append(
                        tuple(1000 * d for d in (chained - started, seen - chained, done - seen))
                    )
        finally:
            conn.close()
        return rows

    results, elapsed = _concurrently(client, chunks)
    rows = np.array([row for result in results for row in result])
    return {
        "sum_ms": rows.sum(axis=1),
        "chain_ms": rows[:, 0],
        "cameras_ms": rows[:, 1],
        "households_ms": rows[:, 2],
        "throughput_rps": len(rows) / elapsed,
    }


def _percentiles(values: np.ndarray) -> dict:
    return {
        "p50": float(np.percentile(values, 50)),
        "p99": float(np.percentile(values, 99)),
        "mean": float(np.mean(values)),
    }


def _summary(runs: list[dict]) -> dict:
    """Percentiles over the samples of every round pooled; throughput per round."""
    return {
        **{
            key: _percentiles(np.concatenate([run[key] for run in runs]))
            for key in runs[0]
            if key.endswith("_ms")
        },
        "requests": sum(len(run[next(iter(run))]) for run in runs),
        "throughput_rps": [round(run["throughput_rps"], 1) for run in runs],
    }


def bench_dispatch(
    clients: int,
    requests: int,
    workers: list[int],
    rounds: int,
    seed: int,
    port: int,
    serial: int,
) -> dict:
    """The issue's measurement (`clients` at once on each side), and the same requests one at
    a time (the first `serial` points), which shows the cost of a request without queueing."""
    ensure_cameras(CAMERAS, seed)
    points = dispatch_points(clients * requests, seed)
    if len(points) < clients * requests:
        raise SystemExit(f"{clients * requests} requests need as many grids; the city has fewer")
    modes = {"concurrent": _chunks(points, clients), "serial": [points[:serial]]}
    token = dispatcher_token()
    max_range = scalar("SELECT max(range_m) FROM layers_camera")
    port = free_port(port)
    print(
        f"dispatch: {clients} clients × {requests} requests, one point in each of {len(points)} "
        f"grids, and {serial} one at a time; gunicorn {workers} workers on port {port}; "
        f"{rounds} round(s)"
    )
    load_before = os.getloadavg()
    # Every page the points touch in the cache, for both sides alike.
    _bare_side(modes["concurrent"], max_range)

    runs: dict = {side: {mode: [] for mode in modes} for side in ["bare", *workers]}
    for round_no in range(rounds):
        # Bare first, then last: drift on a shared machine hits both sides alike.
        order = ["bare", *workers] if round_no % 2 == 0 else [*workers, "bare"]
        for side in order:
            if side == "bare":
                for mode, chunks in modes.items():
                    runs[side][mode].append(_bare_side(chunks, max_range))
                    print(f"  round {round_no + 1}, bare, {mode}: {_line(runs[side][mode][-1])}")
                continue
            with gunicorn(side, port, token):
                # Each worker connects, prepares the lookup and fills its permission cache.
                _http_side(port, token, [chunk[:5] for chunk in modes["concurrent"]])
                for mode, chunks in modes.items():
                    runs[side][mode].append(_http_side(port, token, chunks))
                    print(
                        f"  round {round_no + 1}, {side} workers, {mode}: "
                        f"{_line(runs[side][mode][-1])}"
                    )

    bare = {mode: _summary(runs["bare"][mode]) for mode in modes}
    served: dict = {}
    for w in workers:
        served[str(w)] = {}
        for mode in modes:
            summary = _summary(runs[w][mode])
            summary["response_bytes_median"] = int(
                np.median(np.concatenate([run["response_bytes"] for run in runs[w][mode]]))
            )
            for stat in ("p50", "p99"):
                summary[f"ratio_{stat}"] = summary["server_ms"][stat] / bare[mode]["sum_ms"][stat]
            served[str(w)][mode] = summary
    return {
        "clients": clients,
        "requests_per_client": requests,
        "serial_requests": serial,
        "rounds": rounds,
        "seed": seed,
        "cameras": scalar("SELECT count(*) FROM layers_camera"),
        # The machine is shared: its load (1, 5, 15 min) before and after the measurement.
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "bare": bare,
        "server": served,
    }


def _line(run: dict) -> str:
    values = run["server_ms" if "server_ms" in run else "sum_ms"]
    return (
        f"p50 {np.percentile(values, 50):.2f} ms, p99 {np.percentile(values, 99):.2f} ms, "
        f"{run['throughput_rps']:.0f} req/s"
    )


def print_dispatch(result: dict) -> None:
    bare = result["bare"]
    n = result["clients"]
    for w, served in result["server"].items():
        for mode, who, target in [
            ("concurrent", f"{n} clients", "≤ 2×"),
            ("serial", "1 client", "—"),
        ]:
            for stat in ("p50", "p99"):
                print(
                    f"| dispatch, server time {stat}, {w} gunicorn workers, {who} | "
                    f"{served[mode]['server_ms'][stat]:.2f} ms | "
                    f"{bare[mode]['sum_ms'][stat]:.2f} ms | {served[mode][f'ratio_{stat}']:.2f}× | "
                    f"{target} |"
                )
        concurrent = served["concurrent"]
        print(
            f"| dispatch, client wall time p50 / p99, {w} workers, {n} clients | "
            f"{concurrent['client_ms']['p50']:.2f} / {concurrent['client_ms']['p99']:.2f} ms | "
            f"— | — | — |"
        )
        print(
            f"| dispatch, throughput, {w} workers, {n} clients | {_rates(concurrent)} req/s | "
            f"{_rates(bare['concurrent'])} req/s | — | — |"
        )
    for mode in ("concurrent", "serial"):
        print(
            f"\nbare p50 / p99 per query, {mode}: "
            + ", ".join(
                f"{name} {bare[mode][f'{name}_ms']['p50']:.2f} / "
                f"{bare[mode][f'{name}_ms']['p99']:.2f} ms"
                for name in ("chain", "cameras", "households")
            ),
            end="",
        )
    print()


def _rates(summary: dict) -> str:
    return " / ".join(f"{rate:.0f}" for rate in summary["throughput_rps"])
