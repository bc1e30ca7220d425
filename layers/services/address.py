"""Addresses (门牌地址): a tolerant matching key, and finding buildings by what a caller typed.

"新华北路４７号", "新华北路 47" and "新华北路47号" all find road 新华北路 number 47号.
"""

from __future__ import annotations

import unicodedata

from django.db import connection

from layers.models import Building

# The same keys of the stored side, in SQL; they must agree with normalize_text() and
# normalize_address(). `{text}` is an SQL expression.
TEXT_KEY_SQL = r"regexp_replace(lower(normalize({text}, NFKC)), '\s+', '', 'g')"
ADDRESS_KEY_SQL = f"regexp_replace({TEXT_KEY_SQL}, '号$', '')"


def normalize_text(text: str) -> str:
    """`text` as a matching key: NFKC (full-width digits and letters to ASCII, the ideographic
    space to a space), lower case, without whitespace."""
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


def normalize_address(text: str) -> str:
    """The matching key of an address: normalize_text() and no trailing 号."""
    return normalize_text(text).removesuffix("号")


# Raw SQL, so the stored side's key is the one expression above. It is computed per row, so
# this scans the buildings: ~50 ms for 50,000 of them on a 2-core machine. Exact addresses
# first, then addresses starting with the query, then those containing it, then building
# names; shorter first, so 47号 comes before 471号.
_SEARCH_SQL = f"""
    SELECT id, road, number, name, rank,
           ARRAY[round(ST_XMin(box)::numeric, 7), round(ST_YMin(box)::numeric, 7),
                 round(ST_XMax(box)::numeric, 7), round(ST_YMax(box)::numeric, 7)]::float8[],
           ARRAY[round(ST_X(anchor)::numeric, 7), round(ST_Y(anchor)::numeric, 7)]::float8[]
      FROM (SELECT b.id, b.road, b.number, b.name, b.anchor, Box2D(b.footprint) AS box, k.key,
                   CASE WHEN k.key = %(key)s THEN 0
                        WHEN starts_with(k.key, %(key)s) THEN 1
                        WHEN strpos(k.key, %(key)s) > 0 THEN 2
                        ELSE 3 END AS rank
              FROM {Building._meta.db_table} b,
                   LATERAL (SELECT {ADDRESS_KEY_SQL.format(text="b.road || b.number")} AS key) k
             WHERE strpos(k.key, %(key)s) > 0
                OR (b.name <> '' AND strpos({ADDRESS_KEY_SQL.format(text="b.name")}, %(key)s) > 0)
           ) hit
     ORDER BY rank, length(key), key, id
     LIMIT %(limit)s
"""


def search_buildings(q: str, limit: int = 20) -> list[dict]:
    """Buildings whose address (or name) matches `q`, best first.

    Each: {"id", "label", "address", "rank", "bbox": [minlon, minlat, maxlon, maxlat],
    "point": [lon, lat]} — the point is the building's anchor, a point on its footprint.
    `rank` is 0 for the exact address, 1 for an address starting with `q`, 2 for one containing
    it, 3 for a name match.
    """
    key = normalize_address(q)
    if not key:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_SEARCH_SQL, {"key": key, "limit": limit})
        rows = cursor.fetchall()
    results = []
    for building_id, road, number, name, rank, bbox, point in rows:
        address = f"{road}{number}"
        results.append(
            {
                "id": building_id,
                "label": f"{name}（{address}）" if name and address else name or address,
                "address": address,
                "rank": rank,
                "bbox": bbox,
                "point": point,
            }
        )
    return results
