"""Small database helpers the benchmark parts share."""

from __future__ import annotations

import json

from django.db import connection


def scalar(sql: str, params=None):
    """The first column of the first row."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def topped_up(key: str, table: str, total: int, seed: int) -> tuple[bool, int, str]:
    """Whether `table` was already topped up to `total` rows with `seed` (recorded in bench_meta
    under `key`); also how many rows it has and the record to write once it is. The count is
    checked too: reloading the city (bench/run.py ensure_city) empties the table."""
    wanted = json.dumps({key: total, "seed": seed})
    have = scalar(f"SELECT count(*) FROM {table}")
    recorded = scalar("SELECT max(value) FROM bench_meta WHERE key = %s", [key])
    if have > total and recorded != wanted:
        raise SystemExit(f"the city has {have} rows in {table}, more than {total}: reload it")
    return recorded == wanted and have == total, have, wanted
