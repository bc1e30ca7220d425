"""The published layers (对外发布图层): for each, the SQL that gives its public rows — an id, a
WGS84 geometry and the properties other systems may see — and nothing else. The GeoJSON export,
file export, OGC API – Features and vector tiles all read a layer through this catalogue, so a
column that is not listed here (a household head's name, a phone, a room number, a citizen's
free-text description) cannot leave through any of them. Household layers are aggregates.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.translation import gettext_lazy as _

from gridmap.models import GridUnit
from layers.models import Building, Camera, Facility, Household, Incident, Road

_UNITS = GridUnit._meta.db_table
_HOUSEHOLDS = Household._meta.db_table

# Colour classes of a household group are published only for groups of at least this many (the
# same rule as the map's household layer: in a group of one the colour would name a family).
MIN_GROUP_FOR_COLORS = 3


@dataclass(frozen=True)
class Property:
    name: str
    type: str  # JSON schema type: string, integer, number, boolean
    title: str = ""
    # A date-time is published as ISO 8601 text.
    format: str | None = None


@dataclass(frozen=True)
class Layer:
    """One published layer. `source` is a SELECT with the columns `id`, `geom` (SRID 4326),
    `grid_code` (the code of the unit it belongs to, for `parent` filters) and the properties."""

    name: str
    title: str
    description: str
    model: type[models.Model]
    geometry_type: str  # OGC/GeoJSON type of its features
    source: str
    properties: tuple[Property, ...]
    # Filters beyond bbox: "parent" (unit code prefix) for every layer, "level" for units.
    filters: tuple[str, ...] = ("parent",)
    min_zoom: int = 0  # vector tiles below this zoom are empty
    # What a logged-in user needs to read it, when not the view permission of `model`.
    read_permission: str | None = None

    @property
    def permission(self) -> str:
        """What a logged-in user needs to read the layer."""
        model = self.model._meta
        return self.read_permission or f"{model.app_label}.view_{model.model_name}"

    @property
    def property_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.properties)


def _grid_code(alias: str) -> str:
    """The row's grid code. A scalar subquery, not a join: a tile or a box reads a few hundred
    rows, and a join made the planner hash all 20,000 units for each (2× slower tiles)."""
    return f"(SELECT g.code FROM {_UNITS} g WHERE g.id = {alias}.grid_id)"


LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in [
        Layer(
            name="units",
            title=_("网格单元"),
            description=_("网域、网段、网节、网格四级单元 / the four levels of grid units"),
            model=GridUnit,
            geometry_type="MultiPolygon",
            source=f"""
                SELECT u.id, u.geom, u.code AS grid_code, u.code, u.name, u.level,
                       p.code AS parent_code, u.version
                  FROM {_UNITS} u LEFT JOIN {_UNITS} p ON p.id = u.parent_id""",
            properties=(
                Property("code", "string", "编码"),
                Property("name", "string", "名称"),
                Property("level", "string", "层级"),
                Property("parent_code", "string", "上级编码"),
                Property("version", "integer", "版本"),
            ),
            filters=("parent", "level"),
        ),
        Layer(
            name="buildings",
            title=_("建筑"),
            description=_("建筑轮廓与门牌 / building footprints and addresses"),
            model=Building,
            geometry_type="Polygon",
            source=f"""
                SELECT b.id, b.footprint AS geom, {_grid_code("b")} AS grid_code, NULLIF(b.name, '') AS name,
                       b.road, b.number, b.kind, b.floors
                  FROM {Building._meta.db_table} b""",
            properties=(
                Property("grid_code", "string", "网格编码"),
                Property("name", "string", "名称"),
                Property("road", "string", "路名"),
                Property("number", "string", "门牌号"),
                Property("kind", "string", "类型"),
                Property("floors", "integer", "层数"),
            ),
            min_zoom=13,
        ),
        Layer(
            name="cameras",
            title=_("摄像头"),
            description=_("视频监控点位与视角 / cameras, where they look"),
            model=Camera,
            geometry_type="Point",
            source=f"""
                SELECT c.id, c.location AS geom, {_grid_code("c")} AS grid_code, c.code,
                       NULLIF(c.name, '') AS name, c.bearing, c.fov, c.range_m, c.status
                  FROM {Camera._meta.db_table} c""",
            properties=(
                Property("grid_code", "string", "网格编码"),
                Property("code", "string", "编码"),
                Property("name", "string", "名称"),
                Property("bearing", "number", "朝向"),
                Property("fov", "number", "视角"),
                Property("range_m", "number", "可视距离"),
                Property("status", "string", "状态"),
            ),
            min_zoom=12,
        ),
        Layer(
            name="facilities",
            title=_("服务设施"),
            description=_("15分钟生活圈服务设施 / service facilities"),
            model=Facility,
            geometry_type="Point",
            source=f"""
                SELECT f.id, f.location AS geom, {_grid_code("f")} AS grid_code, f.kind, f.name,
                       NULLIF(f.address, '') AS address
                  FROM {Facility._meta.db_table} f""",
            properties=(
                Property("grid_code", "string", "网格编码"),
                Property("kind", "string", "类别"),
                Property("name", "string", "名称"),
                Property("address", "string", "地址"),
            ),
        ),
        Layer(
            name="incidents",
            title=_("事件"),
            description=_("事件位置、类别与状态，不含描述 / incidents without their description"),
            model=Incident,
            geometry_type="Point",
            # No description: citizens write names and phone numbers into it.
            source=f"""
                SELECT i.id, i.location AS geom, {_grid_code("i")} AS grid_code, i.category, i.status,
                       i.level, i.reported_grid_code, i.reported_at, i.deadline, i.closed_at
                  FROM {Incident._meta.db_table} i""",
            properties=(
                Property("grid_code", "string", "网格编码"),
                Property("category", "string", "类别"),
                Property("status", "string", "状态"),
                Property("level", "string", "处置层级"),
                Property("reported_grid_code", "string", "上报网格"),
                Property("reported_at", "string", "上报时间", "date-time"),
                Property("deadline", "string", "处置时限", "date-time"),
                Property("closed_at", "string", "结案时间", "date-time"),
            ),
            min_zoom=10,
        ),
        Layer(
            name="roads",
            title=_("道路"),
            description=_("道路与步行路网 / roads and the walking network"),
            model=Road,
            geometry_type="LineString",
            source=f"""
                SELECT r.id, r.geom, NULL::text AS grid_code, NULLIF(r.name, '') AS name,
                       r.kind, r.walkable
                  FROM {Road._meta.db_table} r""",
            properties=(
                Property("name", "string", "名称"),
                Property("kind", "string", "类型"),
                Property("walkable", "boolean", "可步行"),
            ),
            filters=(),
            min_zoom=12,
        ),
        Layer(
            name="households",
            title=_("住户（按建筑汇总）"),
            description=_("每栋建筑的户数与人数，无个人信息 / households counted per building"),
            model=Household,
            geometry_type="Point",
            # Counted per building at its anchor; households with a point of their own count with
            # their building too, so no household's position or personal field is published.
            read_permission="gridmap.view_gridunit",
            # LATERAL, so a box or a parent filter on the building is applied before counting.
            source=f"""
                SELECT b.id, b.anchor AS geom, {_grid_code("b")} AS grid_code, c.households,
                       c.residents,
                       CASE WHEN c.households >= {MIN_GROUP_FOR_COLORS} THEN c.red END AS red,
                       CASE WHEN c.households >= {MIN_GROUP_FOR_COLORS} THEN c.orange END
                           AS orange
                  FROM {Building._meta.db_table} b
                 CROSS JOIN LATERAL (
                       SELECT count(*) AS households, sum(h.residents) AS residents,
                              count(*) FILTER (WHERE h.color = 'red') AS red,
                              count(*) FILTER (WHERE h.color = 'orange') AS orange
                         FROM {_HOUSEHOLDS} h WHERE h.building_id = b.id) c
                 WHERE c.households > 0""",
            properties=(
                Property("grid_code", "string", "网格编码"),
                Property("households", "integer", "户数"),
                Property("residents", "integer", "人数"),
                Property("red", "integer", "红色户（3户以上才公布）"),
                Property("orange", "integer", "橙色户（3户以上才公布）"),
            ),
            min_zoom=13,
        ),
        Layer(
            name="grid_households",
            title=_("住户（按网格汇总）"),
            description=_("每个网格的户数与人数 / households counted per grid"),
            model=Household,
            geometry_type="MultiPolygon",
            read_permission="gridmap.view_gridunit",
            source=f"""
                SELECT u.id, u.geom, u.code AS grid_code, u.name, c.households, c.residents
                  FROM {_UNITS} u
                 CROSS JOIN LATERAL (
                       SELECT count(*) AS households, COALESCE(sum(h.residents), 0) AS residents
                         FROM {_HOUSEHOLDS} h WHERE h.grid_id = u.id) c
                 WHERE u.level = 'grid'""",
            properties=(
                Property("grid_code", "string", "网格编码"),
                Property("name", "string", "名称"),
                Property("households", "integer", "户数"),
                Property("residents", "integer", "人数"),
            ),
        ),
    ]
}

# Fields that must never appear in anything published (tests scan every export for them).
PERSONAL_FIELDS = (*Household.PRIVATE_FIELDS, "description")


def get(name: str) -> Layer | None:
    return LAYERS.get(name)
