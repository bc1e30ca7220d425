"""Visit-schedule benchmark (issue 8): the due/overdue list of a community (node) and of the
whole city (1,000,000 households, 5,000,000 visits) through `layers.visits.due`, and the node's
list through `GET /api/visits/due/`, against the bare SQL in the same run.

The bare side is what a hand-written due list must at least do to show the same list: each
household's latest visit (a backwards probe of the (household, visited_at) index), the end of the
period after it by the household's colour, the status on the day, its address and grid code,
sorted by urgency, fetched to the client. GridMap's
side also honours district overrides and colour changes, joins the grid and building, and turns
the rows into objects (and, for the API, JSON).
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import date

from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from bench.db import scalar
from gridmap.models import GridUnit
from layers import visits
from layers.models import Household, Visit

VISITS_PER_HOUSEHOLD = 5
HISTORY_DAYS = 120

_UNIFORM = "(('x' || substr(md5(h.id::text || ':' || k || ':{salt}:' || %(seed)s), 1, 8))::bit(32)::bigint / 4294967296.0)"

TOP_UP_VISITS = f"""
    INSERT INTO {Visit._meta.db_table} (household_id, visited_at, username, note, photo, created_at)
    SELECT h.id,
           now() - make_interval(secs => {_UNIFORM.format(salt="when")} * %(days)s * 86400),
           'bench', '', '', now()
      FROM {Household._meta.db_table} h
     CROSS JOIN generate_series(1, %(per)s) k
"""

# The bare due list: latest visit, next due by colour (day, ISO week, half-month, month,
# quarter), status on the day, by urgency.
BARE_DUE = f"""
    WITH h AS (
        SELECT h.id, h.color, h.building_id, h.grid_id,
               (lv.visited_at AT TIME ZONE 'Asia/Shanghai')::date AS last_day
          FROM {Household._meta.db_table} h
          LEFT JOIN LATERAL (SELECT v.visited_at FROM {Visit._meta.db_table} v
                              WHERE v.household_id = h.id ORDER BY v.visited_at DESC LIMIT 1) lv
            ON true
         WHERE h.grid_id = ANY(%(grids)s)
    ),
    n AS (
        SELECT h.*, CASE h.color
            WHEN 'red' THEN last_day + 1
            WHEN 'orange' THEN date_trunc('week', last_day)::date + 13
            WHEN 'yellow' THEN CASE WHEN extract(day FROM last_day) <= 15
                                    THEN (date_trunc('month', last_day) + interval '1 month - 1 day')::date
                                    ELSE (date_trunc('month', last_day) + interval '1 month 14 days')::date END
            WHEN 'blue' THEN (date_trunc('month', last_day) + interval '2 months - 1 day')::date
            ELSE (date_trunc('quarter', last_day) + interval '6 months - 1 day')::date END AS next_due
          FROM h
    )
    SELECT n.id, g.code, b.road || b.number, n.color, n.last_day, n.next_due,
           CASE WHEN n.next_due < %(day)s THEN 'overdue' WHEN n.next_due = %(day)s THEN 'due_today'
                ELSE 'due' END AS status
      FROM n
      JOIN layers_building b ON b.id = n.building_id
      LEFT JOIN gridmap_gridunit g ON g.id = n.grid_id
     ORDER BY n.next_due NULLS FIRST, n.id
"""


def ensure_visits(seed: int) -> None:
    """Five visits per household over the last 120 days, once (recorded in bench_meta)."""
    households = Household.objects.count()
    wanted = json.dumps(
        {"visits_per_household": VISITS_PER_HOUSEHOLD, "seed": seed, "households": households}
    )
    have = Visit.objects.count()
    recorded = scalar("SELECT max(value) FROM bench_meta WHERE key = 'visits'")
    if recorded == wanted and have == households * VISITS_PER_HOUSEHOLD:
        print(f"visits already there: {have:,}")
        return
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Visit._meta.db_table}")
        cursor.execute(
            TOP_UP_VISITS, {"seed": seed, "days": HISTORY_DAYS, "per": VISITS_PER_HOUSEHOLD}
        )
        added = cursor.rowcount
        cursor.execute(
            "INSERT INTO bench_meta VALUES ('visits', %s) ON CONFLICT (key) DO UPDATE SET value = %s",
            [wanted, wanted],
        )
        cursor.execute(f"VACUUM ANALYZE {Visit._meta.db_table}")
    print(f"visits: {added:,} in {time.perf_counter() - started:.1f} s")


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _bare(grids: list[int], day: date) -> int:
    with connection.cursor() as cursor:
        cursor.execute(BARE_DUE, {"grids": grids, "day": day})
        return len(cursor.fetchall())


def _node_with_most_households() -> GridUnit:
    pk = scalar(
        f"""SELECT g.parent_id FROM {Household._meta.db_table} h
              JOIN {GridUnit._meta.db_table} g ON g.id = h.grid_id
             GROUP BY g.parent_id ORDER BY count(*) DESC, g.parent_id LIMIT 1"""
    )
    return GridUnit.objects.get(pk=pk)


def bench_visits(repeat: int, seed: int) -> dict:
    ensure_visits(seed)
    connection.close()  # VACUUM ran outside; start a clean connection
    day = date.today()
    node = _node_with_most_households()
    node_grids = list(GridUnit.objects.filter(parent=node).values_list("pk", flat=True))
    city_grids = list(GridUnit.objects.filter(level="grid").values_list("pk", flat=True))
    user, _ = User.objects.get_or_create(username="bench-planner", defaults={"is_superuser": True})
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)

    def api() -> None:
        response = client.get("/api/visits/due/", {"node": node.pk})
        assert response.status_code == 200, response.content[:200]

    rows = {"node": len(visits.due(node_grids, day)), "city": None}
    assert _bare(node_grids, day) == rows["node"]
    api()  # warm
    node_bare, node_service, node_api = [], [], []
    for _ in range(max(repeat, 5)):
        node_bare.append(_timed(lambda: _bare(node_grids, day)))
        node_service.append(_timed(lambda: visits.due(node_grids, day)))
        node_api.append(_timed(api))
    city_bare, city_service = [], []
    for _ in range(repeat):
        city_bare.append(_timed(lambda: _bare(city_grids, day)))
        city_service.append(
            _timed(lambda: rows.__setitem__("city", len(visits.due(city_grids, day))))
        )
    med = statistics.median
    result = {
        "visits": Visit.objects.count(),
        "households": Household.objects.count(),
        "node": {"code": node.code, "households": rows["node"], "grids": len(node_grids)},
        "node_bare_s": med(node_bare),
        "node_service_s": med(node_service),
        "node_api_s": med(node_api),
        "city_households": rows["city"],
        "city_bare_s": med(city_bare),
        "city_service_s": med(city_service),
        "runs": {
            "node_bare": node_bare,
            "node_service": node_service,
            "node_api": node_api,
            "city_bare": city_bare,
            "city_service": city_service,
        },
    }
    for key in ("node_service", "node_api"):
        result[f"{key}_ratio"] = round(result[f"{key}_s"] / result["node_bare_s"], 2)
    result["city_service_ratio"] = round(result["city_service_s"] / result["city_bare_s"], 2)
    return result


def print_visits(r: dict) -> None:
    n = r["node"]
    print(
        f"| due list of node {n['code']} ({n['households']:,} households), visits.due() | "
        f"{r['node_service_s'] * 1000:.1f} ms | {r['node_bare_s'] * 1000:.1f} ms | "
        f"{r['node_service_ratio']:.2f}× | ≤ 2× |"
    )
    print(
        f"| the same through GET /api/visits/due/?node= (JSON) | {r['node_api_s'] * 1000:.1f} ms | "
        f"{r['node_bare_s'] * 1000:.1f} ms | {r['node_api_ratio']:.2f}× | ≤ 2× |"
    )
    print(
        f"| due list of the whole city ({r['city_households']:,} households, {r['visits']:,} "
        f"visits), visits.due() | {r['city_service_s']:.2f} s | {r['city_bare_s']:.2f} s | "
        f"{r['city_service_ratio']:.2f}× | ≤ 2× |"
    )
