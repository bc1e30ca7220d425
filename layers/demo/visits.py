"""A visit history for the demo's 利民社区 network (嘉峪关市), so the grid worker's list and the
workload figures have something to show: each household visited once per period of its colour
over the last quarter, by a staff member of its grid, with about one household in eight having
missed its latest period (overdue) — drawn from a hash of its id, the same on every machine."""

from __future__ import annotations

import json

from django.db import connection

from layers.models import Household, Visit

# The period of each colour in days for the demo history (the real schedule is calendar-based:
# layers.visits); a visit lands in the middle of each period before today.
_STEP_DAYS = {"red": 1, "orange": 7, "yellow": 15, "blue": 30, "green": 91}
HISTORY_DAYS = 91

_INSERT = f"""
    INSERT INTO {Visit._meta.db_table}
           (household_id, visited_at, username, staff_member_id, note, photo, created_at)
    SELECT h.id,
           now() - make_interval(days => s.step * (k + 1 + skip.n)) + interval '10 hours'
               - make_interval(hours => mod(hash.v, 8)::int),
           COALESCE(st.name, ''), st.id, '演示走访记录 / demo visit', '', now()
      FROM {Household._meta.db_table} h
      JOIN gridmap_gridunit g ON g.id = h.grid_id AND g.code LIKE %(network)s || '%%'
      JOIN (SELECT * FROM jsonb_each_text(%(steps)s::jsonb)) s0(color, step_text) ON s0.color = h.color
     CROSS JOIN LATERAL (SELECT s0.step_text::int AS step) s
     CROSS JOIN LATERAL (SELECT ('x' || substr(md5(h.id::text || ':visits'), 1, 8))::bit(32)::bigint AS v) hash
     CROSS JOIN LATERAL (SELECT CASE WHEN mod(hash.v, 8) = 0 THEN 1 ELSE 0 END AS n) skip
     CROSS JOIN LATERAL generate_series(0, greatest(0, %(days)s / s.step - 1)) k
      LEFT JOIN LATERAL (SELECT m.id, m.name FROM gridmap_staffmember m
                          WHERE m.unit_id = g.id ORDER BY m.id LIMIT 1) st ON true
"""


def ensure_demo_visits(network_code: str = "620200") -> int:
    """Write the demo visit history unless the network's households already have visits."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT EXISTS (SELECT FROM {Visit._meta.db_table} v
                                 JOIN {Household._meta.db_table} h ON h.id = v.household_id
                                 JOIN gridmap_gridunit g ON g.id = h.grid_id
                                WHERE g.code LIKE %s || '%%')""",
            [network_code],
        )
        if cursor.fetchone()[0]:
            return 0
        cursor.execute(
            _INSERT,
            {"network": network_code, "steps": json.dumps(_STEP_DAYS), "days": HISTORY_DAYS},
        )
        return cursor.rowcount
