"""GridMap benchmarks: assignment (bulk and incremental), locate, edit, dispatch and coverage,
each as a ratio to the bare PostGIS (or pgRouting) queries on the same data in the same run, and
exchange (export, OGC API, tiles) beside tipg and DRF-GIS on the same rows.

    python bench/run.py [--grids 20000] [--households 1000000] [--repeat 3] [--seed 7]
                        [--only assignment|locate|edit|dispatch|coverage|exchange|visits]

Runs in its own database (`<name>_bench`, made and migrated like a test database and kept
between runs, so the synthetic city is generated once per size and seed). Prints a table and
writes bench/results/<UTC time>.json (the edit part also bench/results/edit.json, the dispatch
part bench/results/dispatch.json, the exchange part bench/results/exchange.json). The exchange
part needs tipg in bench/.venv-tipg (scripts/bench-tipg.sh). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.contrib.gis.geos import Point  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from shapely.geometry import Point as ShapelyPoint  # noqa: E402

from bench.coverage import bench_coverage, print_coverage  # noqa: E402
from bench.db import scalar  # noqa: E402
from bench.dispatch import bench_dispatch, print_dispatch  # noqa: E402
from bench.edit import bench_edit  # noqa: E402
from bench.exchange import bench_exchange, print_exchange  # noqa: E402
from bench.visits import bench_visits, print_visits  # noqa: E402
from gridmap.assignment import assign  # noqa: E402
from gridmap.models import GridUnit  # noqa: E402
from layers.demo.loader import load_city  # noqa: E402
from layers.demo.synthcity import generate_city  # noqa: E402
from layers.models import Household  # noqa: E402

KARAMAY = "650203"  # the demo district the coverage benchmark measures

# The synthetic city sits on a disc around Beijing's centre, sized to the number of grids.
CENTRE = (116.40, 39.90)

BARE_BULK = """
    UPDATE layers_household h SET grid_id = g.id
      FROM gridmap_gridunit g
     WHERE g.level = 'grid' AND ST_Covers(g.geom, h.location)
"""
BARE_AREA = """
    UPDATE layers_household h SET grid_id = g.id
      FROM gridmap_gridunit g
     WHERE g.level = 'grid' AND ST_Covers(g.geom, h.location)
       AND ST_Intersects(h.location, ST_GeomFromEWKB(%s))
"""
BARE_LOCATE = """
    SELECT id FROM gridmap_gridunit
     WHERE level = 'grid' AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))
     ORDER BY code LIMIT 1
"""


DATABASE_NAME = connection.settings_dict["NAME"]


def use_bench_database(suffix: str = "_bench") -> None:
    """Switch the default connection to <name><suffix>, creating and migrating it if needed."""
    settings = connection.settings_dict
    connection.close()
    settings["TEST"] = {**settings.get("TEST", {}), "NAME": f"{DATABASE_NAME}{suffix}"}
    # Not serialized: that is for test cases, and it read the whole city (~70 s) on every run.
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=True, serialize=False)


def execute(sql: str, params=None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def ensure_city(grids: int, households: int, seed: int) -> None:
    """Load the synthetic city unless this exact one is already there."""
    execute("CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value text)")
    wanted = json.dumps({"grids": grids, "households": households, "seed": seed})
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM bench_meta WHERE key = 'city'")
        row = cursor.fetchone()
    if row and row[0] == wanted:
        print(f"synthetic city already loaded: {wanted}")
        return
    started = time.perf_counter()
    # A disc of ~0.107 km² per grid: dense urban blocks, as in the demo districts.
    radius_km = (grids * 0.107 / 3.1416) ** 0.5
    outline = ShapelyPoint(CENTRE).buffer(radius_km / 111.0, quad_segs=32)
    city = generate_city(
        network_code="110101",
        network_name="合成城市",
        outline_wgs84=outline,
        households=households,
        segments=max(1, grids // 2000),
        nodes=max(1, grids // 60),
        grid_target=max(1, households // grids),
        grids=grids,
        seed=seed,
        household_points=True,
    )
    generated = time.perf_counter()
    execute(
        "TRUNCATE layers_household, layers_building, layers_camera, layers_facility, "
        "layers_incident, layers_road, gridmap_staffmember, gridmap_gridunit CASCADE"
    )
    load_city(city)
    execute(
        "INSERT INTO bench_meta VALUES ('city', %s) ON CONFLICT (key) DO UPDATE SET value = %s",
        [wanted, wanted],
    )
    execute("VACUUM ANALYZE")
    print(
        f"generated in {generated - started:.1f} s, loaded in {time.perf_counter() - generated:.1f} s"
    )


def reset_households() -> None:
    execute("UPDATE layers_household SET grid_id = NULL WHERE grid_id IS NOT NULL")
    execute("VACUUM ANALYZE layers_household")


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_bulk(repeat: int) -> dict:
    bare, service = [], []
    for _ in range(repeat):
        reset_households()
        bare.append(timed(lambda: execute(BARE_BULK)))
        reset_households()
        service.append(timed(lambda: assign(Household)))
    return {
        "bare_s": statistics.median(bare),
        "service_s": statistics.median(service),
        "runs_bare": bare,
        "runs_service": service,
    }


def bench_incremental(repeat: int, bulk_service_s: float) -> dict:
    grid = GridUnit.objects.grids().order_by("code")[GridUnit.objects.grids().count() // 2]
    area = grid.geom
    rows = Household.objects.filter(location__intersects=area).count()
    bare = [timed(lambda: execute(BARE_AREA, [area.ewkb])) for _ in range(repeat)]
    service = [timed(lambda: assign(Household, area=area)) for _ in range(repeat)]
    median = statistics.median(service)
    return {
        "grid": grid.code,
        "rows": rows,
        "bare_s": statistics.median(bare),
        "service_s": median,
        "share_of_bulk": median / bulk_service_s,
    }


def household_points(n: int) -> list[tuple[float, float]]:
    """Where dispatchers locate things: at households, a repeatable sample of them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            "SELECT ST_X(location), ST_Y(location) FROM layers_household "
            "WHERE location IS NOT NULL ORDER BY random() LIMIT %s",
            [n],
        )
        return cursor.fetchall()


def bench_locate(n: int) -> dict:
    points = household_points(n)
    user, _ = User.objects.get_or_create(username="bench-viewer")
    user.groups.add(Group.objects.get(name="viewer"))
    # A platform or dispatcher client: token authentication, as in production.
    token, _ = Token.objects.get_or_create(user=user)
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token.key}")

    def bare() -> None:
        with connection.cursor() as cursor:
            for lon, lat in points:
                cursor.execute(BARE_LOCATE, [lon, lat])
                cursor.fetchone()

    server_ms: list[float] = []

    def api() -> None:
        server_ms.clear()
        for lon, lat in points:
            response = client.get("/api/locate/", {"lon": lon, "lat": lat})
            assert response.status_code == 200, response.content
            server_ms.append(float(response["Server-Timing"].split("dur=")[1]))

    def service() -> None:
        from gridmap.locate import locate

        for lon, lat in points:
            locate(Point(lon, lat, srid=4326)).staff  # noqa: B018 - staff is part of the answer

    api()  # warm caches and connections once
    bare_s, service_s, api_s = timed(bare), timed(service), timed(api)
    return {
        "requests": n,
        "bare_ms": 1000 * bare_s / n,
        "service_ms": 1000 * service_s / n,
        # Server-Timing: from the first middleware in to the response out, as a server sees it.
        "api_ms": sum(server_ms) / n,
        # Wall time of the in-process test client, which adds building and parsing each request.
        "api_client_ms": 1000 * api_s / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=20000)
    parser.add_argument("--households", type=int, default=1000000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--locate-requests", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--only",
        choices=["assignment", "locate", "edit", "dispatch", "coverage", "exchange", "visits"],
        help="run one part (assignment = bulk + incremental; edit = reshape preview and commit; "
        "dispatch = GET /api/dispatch/ under gunicorn with concurrent clients; coverage = service "
        "circles and the coverage table, on the Karamay demo and the synthetic city; exchange = "
        "GeoJSON export, OGC API items and vector tiles beside tipg and DRF-GIS)",
    )
    parser.add_argument(
        "--coverage-facilities", type=int, default=500, help="facilities sampled in the city"
    )
    parser.add_argument(
        "--edit-repeat", type=int, default=15, help="repetitions of each edit measurement"
    )
    parser.add_argument(
        "--dispatch-clients", type=int, default=16, help="concurrent clients on each side"
    )
    parser.add_argument(
        "--dispatch-requests", type=int, default=150, help="requests per client and round"
    )
    parser.add_argument(
        "--dispatch-workers",
        default="3",
        help="gunicorn sync workers; a comma-separated list measures each (e.g. 2,3,4,8)",
    )
    parser.add_argument("--dispatch-rounds", type=int, default=2)
    parser.add_argument(
        "--dispatch-serial", type=int, default=300, help="requests sent one at a time, per round"
    )
    parser.add_argument("--dispatch-port", type=int, default=8790)
    parser.add_argument(
        "--exchange-repeat", type=int, default=2, help="repetitions of each full export"
    )
    parser.add_argument(
        "--exchange-requests",
        type=int,
        default=400,
        help="requests per side for each kind of items page and each tile zoom",
    )
    parser.add_argument(
        "--exchange-drf-share",
        type=float,
        default=0.08,
        help="share of the city (a box in its middle) whose buildings DRF-GIS serializes",
    )
    parser.add_argument(
        "--exchange-port", type=int, default=8792, help="gunicorn's port; tipg takes the next"
    )
    args = parser.parse_args()

    demo_coverage = None
    if args.only in (None, "coverage"):
        # The demo district first, in its own database (<name>_bench_demo, loaded once).
        use_bench_database("_bench_demo")
        if not GridUnit.objects.filter(code=KARAMAY).exists():
            call_command("load_demo")
        demo_coverage = bench_coverage(KARAMAY, None, args.repeat, args.seed)
    use_bench_database()
    ensure_city(args.grids, args.households, args.seed)
    grids = GridUnit.objects.grids().count()
    households = Household.objects.count()
    print(f"city: {grids} grids, {households} households")

    bulk = incremental = located = edited = dispatched = city_coverage = exchanged = None
    if args.only in (None, "assignment"):
        bulk = bench_bulk(args.repeat)
        incremental = bench_incremental(args.repeat, bulk["service_s"])
    if args.only in (None, "locate"):
        located = bench_locate(args.locate_requests)
    if args.only in (None, "edit"):
        edited = bench_edit(args.edit_repeat)
    if args.only in (None, "dispatch"):
        dispatched = bench_dispatch(
            clients=args.dispatch_clients,
            requests=args.dispatch_requests,
            workers=[int(w) for w in args.dispatch_workers.split(",")],
            rounds=args.dispatch_rounds,
            seed=args.seed,
            port=args.dispatch_port,
            serial=args.dispatch_serial,
        )

    if args.only in (None, "coverage"):
        network = GridUnit.objects.get(level="network").code
        city_coverage = bench_coverage(network, args.coverage_facilities, args.repeat, args.seed)
    visited = None
    if args.only in (None, "visits"):
        visited = bench_visits(args.repeat, args.seed)
    if args.only in (None, "exchange"):
        exchanged = bench_exchange(
            repeat=args.exchange_repeat,
            requests=args.exchange_requests,
            seed=args.seed,
            port=args.exchange_port,
            drf_share=args.exchange_drf_share,
        )

    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "postgis": scalar("SELECT postgis_full_version()"),
        "city": {"grids": grids, "households": households, "seed": args.seed},
        "bulk": bulk,
        "incremental": incremental,
        "locate": located,
        "edit": edited,
        "dispatch": dispatched,
        "coverage": {"demo": demo_coverage, "city": city_coverage},
        "exchange": exchanged,
        "visits": visited,
    }
    print()
    if any((bulk, located, edited, dispatched, demo_coverage, city_coverage, visited)):
        print("| benchmark | GridMap | bare PostGIS | ratio | target |")
        print("|---|---|---|---|---|")
    if bulk:
        print(
            f"| bulk assignment, {households:,} households → {grids:,} grids | "
            f"{bulk['service_s']:.2f} s | {bulk['bare_s']:.2f} s | "
            f"{bulk['service_s'] / bulk['bare_s']:.2f}× | ≤ 1.2× |"
        )
        print(
            f"| incremental, one grid's area ({incremental['rows']} rows) | "
            f"{incremental['service_s'] * 1000:.1f} ms | {incremental['bare_s'] * 1000:.1f} ms | "
            f"{incremental['share_of_bulk'] * 100:.3f}% of bulk | ≤ 2% of bulk |"
        )
    if located:
        bare = located["bare_ms"]
        for label, key, target in [
            ("locate, locate() service per call", "service_ms", "—"),
            ("locate, GET /api/locate/ server time (Server-Timing)", "api_ms", "≤ 2×"),
            ("locate, GET /api/locate/ with the test client's own work", "api_client_ms", "—"),
        ]:
            print(
                f"| {label} | {located[key]:.3f} ms | {bare:.3f} ms | "
                f"{located[key] / bare:.2f}× | {target} |"
            )
    if edited:
        print_edit(edited)
    if dispatched:
        print_dispatch(dispatched)
    if demo_coverage:
        print_coverage("Karamay demo", demo_coverage)
    if city_coverage:
        print_coverage("city", city_coverage)
    if visited:
        print_visits(visited)
    if exchanged:
        print_exchange(exchanged)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{results['when'].replace(':', '')}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"\nwritten to {path.relative_to(ROOT)}")
    if edited:
        common = {k: v for k, v in results.items() if k not in ("bulk", "incremental", "locate")}
        (out / "edit.json").write_text(json.dumps(common, indent=2, ensure_ascii=False))
        print("and to bench/results/edit.json")
    common = {k: v for k, v in results.items() if k in ("when", "machine", "postgis", "city")}
    for part in ("dispatch", "coverage", "exchange", "visits"):
        payload = results[part]
        if payload and (not isinstance(payload, dict) or any(payload.values())):
            (out / f"{part}.json").write_text(
                json.dumps({**common, part: payload}, indent=2, ensure_ascii=False)
            )
            print(f"and to bench/results/{part}.json")


def print_edit(edited: dict) -> None:
    base = edited["bare"]["median_s"]
    moved = f"{edited['households_moved']} households ({edited['share_moved']:.2%} of the node)"
    for label, key, target in [
        (f"edit, bare reassignment SQL, {moved}", "bare", "—"),
        ("edit, assign_all(area) as the edit runs it", "service_reassignment", "—"),
        ("edit, reshape preview (rolled back)", "preview", "≤ 2×, < 1 s"),
        ("edit, reshape commit (outer transaction rolled back)", "commit", "≤ 2×, < 1 s"),
    ]:
        runs = edited[key]
        print(
            f"| {label} | {runs['median_s'] * 1000:.1f} ms (min {runs['min_s'] * 1000:.1f}) | "
            f"{base * 1000:.1f} ms | {runs['median_s'] / base:.2f}× | {target} |"
        )
    print(
        f"\npreview: {edited['preview_queries']} queries, {edited['preview_sql_s'] * 1000:.1f} ms "
        f"(median) in the database; {edited['units_changed']} units changed; bare geometry writes "
        f"{edited['bare_geometry_writes']['median_s'] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
