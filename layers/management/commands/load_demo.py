"""manage.py load_demo [--replace] [--network CODE]: the demo networks, 嘉峪关市 (with 利民社区
of seed 004, from fixtures/geo/limin/) and 克拉玛依区 (generated from its outline with a fixed
seed: 5 street offices, 65 communities, 100,933 households)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from gridmap.models import GridUnit
from layers.demo.limin import NETWORK_CODE as LIMIN_NETWORK
from layers.demo.loader import DEMOS, delete_network, load_city
from layers.demo.visits import ensure_demo_visits


class Command(BaseCommand):
    help = "加载演示数据 / load the demo networks (skips a network that is already there)"

    def add_arguments(self, parser) -> None:
        codes = ", ".join(f"{d.code} {d.name}" for d in DEMOS)
        parser.add_argument(
            "--network", action="append", help=f"only this network ({codes}); repeatable"
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="delete a network that is already loaded, with everything on it, and reload it",
        )

    def handle(self, *args, network=None, replace=False, **options) -> None:
        chosen = [d for d in DEMOS if not network or d.code in network]
        unknown = set(network or ()) - {d.code for d in DEMOS}
        if unknown:
            raise CommandError(f"未知网域 / unknown network: {', '.join(sorted(unknown))}")
        started = time.perf_counter()
        for demo in chosen:
            exists = GridUnit.objects.filter(code=demo.code, level=GridUnit.Level.NETWORK).exists()
            if exists and not replace:
                self.stdout.write(
                    f"{demo.code} {demo.name}: 已存在，跳过（--replace 重新加载）/ "
                    "already loaded, skipped (use --replace to reload)"
                )
                continue
            step = time.perf_counter()
            city = demo.make()
            self.stdout.write(
                f"{demo.code} {demo.name}: made in {time.perf_counter() - step:.1f} s, loading"
            )
            with transaction.atomic():
                if exists:
                    delete_network(demo.code)
                    self.stdout.write("  deleted the loaded network first (--replace)")
                counts = load_city(city, stdout=self.stdout)
            totals = ", ".join(f"{k} {v:,}" for k, v in counts.items())
            self.stdout.write(
                self.style.SUCCESS(
                    f"{demo.code} {demo.name}: {totals} ({time.perf_counter() - step:.1f} s)"
                )
            )
        if any(d.code == LIMIN_NETWORK for d in chosen):
            visits = ensure_demo_visits(LIMIN_NETWORK)
            if visits:
                self.stdout.write(f"{LIMIN_NETWORK}: {visits:,} demo visits")
        self.stdout.write(f"load_demo done in {time.perf_counter() - started:.1f} s")
