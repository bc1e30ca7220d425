"""Shared fixtures: a small hand-made grid world with known answers, users per role, API clients."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.gis.geos import MultiPolygon, Polygon
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from gridmap.models import GridUnit, StaffMember

# The browser for the map pages' tests (tests/browser.py).
pytest_plugins = ["tests.browser"]

# The world, in WGS84 degrees (x = lon, y = lat); 0.001° ≈ 85 m east–west, 111 m north–south here.
#
#   39.002 +-----------+-----------+-----------+
#          |           |  G2  +-+  |           |
#          |    G1     | +-+  |B|  |    G3     |   G1 = …001, G2 = …002, G3 = …003 (MultiPolygon:
#          |           | |A|  +-+  |  part 2   |   its part 1 fills hole A of G2); hole B of G2
#   39.000 +-----------+-----------+-----------+   is in no grid (a coverage gap).
#        98.000      98.002      98.004      98.006
X0, Y0 = 98.000, 39.000
HOLE_A = (98.0025, 39.0005, 98.0030, 39.0010)
HOLE_B = (98.0034, 39.0012, 98.0038, 39.0016)
NETWORK, SEGMENT, NODE = "620200", "620200001", "620200001001"
G1, G2, G3 = (f"{NODE}{i:03d}" for i in (1, 2, 3))


def box(xmin: float, ymin: float, xmax: float, ymax: float) -> Polygon:
    return Polygon.from_bbox((xmin, ymin, xmax, ymax))


def multi(*polygons: Polygon) -> MultiPolygon:
    return MultiPolygon(*polygons, srid=4326)


def make_unit(level: str, code: str, geom: MultiPolygon, parent: GridUnit | None = None, **kw):
    unit = GridUnit(
        level=level,
        code=code,
        name=kw.pop("name", f"{level} {code}"),
        geom=geom,
        parent=parent,
        **kw,
    )
    unit.full_clean()
    unit.save()
    return unit


@pytest.fixture
def world(db) -> dict[str, GridUnit]:
    whole = box(X0, Y0, 98.006, 39.002)
    network = make_unit("network", NETWORK, multi(whole), name="嘉峪关市")
    segment = make_unit("segment", SEGMENT, multi(whole.clone()), network, name="钢城街道")
    node = make_unit("node", NODE, multi(whole.clone()), segment, name="利民社区")
    g2_shell = box(98.002, Y0, 98.004, 39.002).exterior_ring
    g2 = Polygon(g2_shell, box(*HOLE_A).exterior_ring, box(*HOLE_B).exterior_ring)
    units = {
        "network": network,
        "segment": segment,
        "node": node,
        "g1": make_unit("grid", G1, multi(box(X0, Y0, 98.002, 39.002)), node, name="第一网格"),
        "g2": make_unit("grid", G2, multi(g2), node, name="第二网格"),
        "g3": make_unit(
            "grid", G3, multi(box(*HOLE_A), box(98.004, Y0, 98.006, 39.002)), node, name="第三网格"
        ),
    }
    StaffMember.objects.create(
        unit=units["g1"], role="grid_leader", name="张伟", phone="13800000001"
    )
    StaffMember.objects.create(
        unit=units["g1"], role="full_time_worker", name="李娜", phone="13800000002"
    )
    return units


def user_with_role(role: str | None, username: str | None = None) -> User:
    user = User.objects.create_user(username or f"user-{role}", password="pw-not-used")
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def api_as(db):
    """api_as("viewer") → an APIClient authenticated by token as a user with that role."""

    def make(role: str | None) -> APIClient:
        user = user_with_role(role)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        return client

    return make


@pytest.fixture
def viewer_api(api_as) -> APIClient:
    return api_as("viewer")


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Cached permissions must not leak from one test's users into another's."""
    from django.core.cache import cache

    cache.clear()
