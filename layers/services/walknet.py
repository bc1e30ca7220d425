"""The walking graph (步行路网) for service circles: walkable roads as pgRouting edges (the
materialized view layers_walk_edge, see migration layers/0005), and points joined to it at their
nearest point on an edge."""

from __future__ import annotations

from django.db import connection

EDGES = "layers_walk_edge"

# pgRouting reads the graph through this query: undirected (a footway goes both ways), metres.
EDGES_SQL = f"SELECT id, source, target, cost, cost AS reverse_cost FROM {EDGES}"

# The temporary tables pgRouting's points query reads: pgr_withPoints* take SQL text, not rows,
# so the points are written here first (per transaction) and named in that text.
SOURCES = "walk_source"
TARGETS = "walk_target"
SOURCES_SQL = f"SELECT pid, edge_id, fraction FROM {SOURCES} WHERE edge_id IS NOT NULL"


def refresh() -> None:
    """Rebuild the graph from the roads (all of it: a city's network takes milliseconds)."""
    with connection.cursor() as cursor:
        cursor.execute(f"REFRESH MATERIALIZED VIEW {EDGES}")


def has_edges() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS (SELECT FROM {EDGES})")
        return cursor.fetchone()[0]


# pgRouting 3.4's pgr_withPointsDD walks nowhere from a point at fraction exactly 0 or 1 (at a
# vertex: it returns the point alone), so points are kept this far inside their edge: a nanometre
# on a city street.
END_GAP = 1e-9

# The edge nearest to point `p.geom` within %(access)s metres, and where on it the point joins:
# `fraction` from the edge's source (0) to its target (1). The metric test uses the geography
# index of the view; the fraction is measured along the line in degrees, which for the short,
# nearly straight road segments of a city differs from the metric fraction by well under 1%.
NEAREST_EDGE = f"""
    LEFT JOIN LATERAL (
        SELECT e.id AS edge_id,
               least(greatest(ST_LineLocatePoint(e.geom, p.geom), {END_GAP}), 1 - {END_GAP})
                   AS fraction
          FROM {EDGES} e
         WHERE ST_DWithin(e.geog, p.geom::geography, %(access)s)
         ORDER BY ST_Distance(e.geog, p.geom::geography), e.id
         LIMIT 1
    ) near ON true
"""


def load_points(table: str, points_sql: str, params: dict) -> int:
    """Replace temporary table `table` (pid, edge_id, fraction, geom) with the points of
    `points_sql` (columns pid, geom), each joined to its nearest edge within %(access)s metres
    (edge_id and fraction NULL if there is none). Call inside a transaction: the table is dropped
    at its end. Returns how many points there are."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(
            f"""CREATE TEMPORARY TABLE {table} ON COMMIT DROP AS
                SELECT p.pid::bigint AS pid, near.edge_id, near.fraction, p.geom
                  FROM ({points_sql}) p {NEAREST_EDGE}""",
            params,
        )
        count = cursor.rowcount
        cursor.execute(f"CREATE INDEX ON {table} (edge_id)")
        # Points off every road are matched to others by distance (coverage's buffer circles).
        cursor.execute(f"CREATE INDEX ON {table} USING gist (geom)")
        cursor.execute(f"ANALYZE {table}")
        return count
