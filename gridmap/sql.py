"""Raw SQL helpers for the few hot paths where the ORM plans badly (see each caller's comment)."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from django.db import connection

# Database connection → names of the statements prepared on it.
_prepared_on: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class PreparedStatement:
    """A statement prepared once per database connection and executed by name: for lookups
    that run on every request and cost more to plan than to run."""

    name: str
    sql: str  # with %(param)s placeholders
    types: dict[str, str]  # param → SQL type, in the order of $1, $2, …

    def prepare(self) -> str:
        sql = self.sql
        for position, param in enumerate(self.types, 1):
            sql = sql.replace(f"%({param})s", f"${position}")
        return f"PREPARE {self.name}({', '.join(self.types.values())}) AS {sql}"

    def fetchone(self, params: dict[str, Any]) -> tuple | None:
        connection.ensure_connection()
        prepared = _prepared_on.setdefault(connection.connection, set())
        with connection.cursor() as cursor:
            if self.name not in prepared:
                cursor.execute(self.prepare())
                prepared.add(self.name)
            cursor.execute(
                f"EXECUTE {self.name}({', '.join(['%s'] * len(self.types))})",
                [params[param] for param in self.types],
            )
            return cursor.fetchone()


def degree_box(centre: str, lat: str, radius_m: str) -> str:
    """SQL: `centre` expanded to a lon/lat box that holds every point within `radius_m` metres.

    The GiST indexes are on geometry (degrees) and a geography cast cannot use them, so each
    metric search takes the rows inside this box by index (`&&`) and applies the exact test on
    the ellipsoid to those alone. The box is never too small: a degree of latitude is at least
    110 574 m (at the equator), and a degree of longitude at least 111 319 m × cos(latitude),
    taken at the circle's poleward edge; within a degree of a pole every longitude is in.
    """
    dlat = f"(({radius_m}) / 110500.0)"
    dlon = (
        f"(CASE WHEN abs({lat}) + {dlat} < 89 "
        f"THEN ({radius_m}) / (111300.0 * cos(radians(abs({lat}) + {dlat}))) ELSE 360 END)"
    )
    return f"ST_Expand({centre}, {dlon}, {dlat})"
