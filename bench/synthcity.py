"""Generate the benchmark's synthetic city and optionally load it into the database.

    .venv/bin/python bench/synthcity.py --grids 20000 --households 1000000 --seed 7 --load

The city is an irregular outline (sized for ~3.5 blocks per grid) around Yinzhou, Ningbo,
the large district of seed 002. --load writes it into the database named by the Django
settings (DATABASE_URL), assigning every layer to its grid; --out writes GeoJSON/CSV files.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from layers.demo.synthcity import City, generate_city, synthetic_outline  # noqa: E402

# Blocks are ~175 m apart and a grid takes about 3.5 of them.
KM2_PER_GRID = 3.5 * 0.175**2


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grids", type=int, default=20_000)
    p.add_argument("--households", type=int, default=1_000_000)
    p.add_argument("--segments", type=int, help="street offices (default: one per 300 grids)")
    p.add_argument("--nodes", type=int, help="communities (default: one per 8 grids)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--code", default="330212", help="6-digit network code (default 鄞州区)")
    p.add_argument("--name", default="鄞州区（合成）")
    p.add_argument("--centre", default="121.54,29.82", help="lon,lat of the city, WGS84")
    p.add_argument(
        "--no-household-points",
        action="store_true",
        help="households without points of their own (they follow their building)",
    )
    p.add_argument("--load", action="store_true", help="load into the database")
    p.add_argument("--replace", action="store_true", help="with --load: replace the network")
    p.add_argument("--out", type=Path, help="also write the layers into this folder")
    return p.parse_args(argv)


def make(args: argparse.Namespace) -> City:
    lon, lat = (float(v) for v in args.centre.split(","))
    segments = args.segments or max(1, round(args.grids / 300))
    nodes = args.nodes or max(segments, round(args.grids / 8))
    outline = synthetic_outline(lon, lat, args.grids * KM2_PER_GRID, seed=args.seed)
    return generate_city(
        network_code=args.code,
        network_name=args.name,
        outline_wgs84=outline,
        households=args.households,
        segments=segments,
        nodes=nodes,
        grids=args.grids,
        seed=args.seed,
        household_points=not args.no_household_points,
    )


def load(city: City, replace: bool) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.db import transaction

    from gridmap.models import GridUnit
    from layers.demo.loader import delete_network, load_city

    exists = GridUnit.objects.filter(code=city.network_code, level="network").exists()
    if exists and not replace:
        sys.exit(f"network {city.network_code} is already loaded; use --replace")
    with transaction.atomic():
        if exists:
            delete_network(city.network_code)
        load_city(city, stdout=sys.stdout)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    started = time.perf_counter()
    city = make(args)
    made = time.perf_counter() - started
    print(f"generated in {made:.1f} s: {city.counts()}", flush=True)
    if args.out:
        sizes = city.to_folder(args.out)
        print(f"wrote {sum(sizes.values()) / 2**20:.0f} MiB to {args.out}")
    if args.load:
        step = time.perf_counter()
        load(city, args.replace)
        print(f"loaded in {time.perf_counter() - step:.1f} s")
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
