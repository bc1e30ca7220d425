"""Write a City into the database in one transaction with COPY, then assign every layer to its
grid; and the two demo networks that `manage.py load_demo` loads."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from django.contrib.gis.db.models import GeometryField
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from gridmap.assignment import assign_all
from gridmap.models import GridUnit, StaffMember
from layers.demo import limin, synthcity
from layers.demo.outlines import read_outline
from layers.models import Building, Camera, Facility, Household, Road

COPY_CHUNK = 250_000


@dataclass(frozen=True)
class Demo:
    code: str
    name: str
    make: Callable[[], synthcity.City]


def karamay() -> synthcity.City:
    """克拉玛依区 as seed 000 counts it: 5 street offices, 65 communities, 100,933 households."""
    return synthcity.generate_city(
        network_code="650203",
        network_name="克拉玛依区",
        outline_wgs84=read_outline("karamay.geojson"),
        households=100_933,
        segments=5,
        nodes=65,
        seed=2023,
        segment_names=["天山路街道", "胜利路街道", "昆仑路街道", "银河路街道", "迎宾街道"],
    )


DEMOS = (
    Demo(limin.NETWORK_CODE, limin.NETWORK_NAME, limin.load_fixture),
    Demo("650203", "克拉玛依区", karamay),
)


class _Say:
    def __init__(self, stdout) -> None:
        self.stdout = stdout
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.stdout is not None:
            self.stdout.write(f"  {message} ({time.perf_counter() - self.started:.1f} s)\n")


def load_city(city: synthcity.City, *, stdout=None) -> dict[str, int]:
    """Insert every layer of `city` and assign it to grids, all in one transaction.

    Units go in parents first (the hierarchy trigger checks each row); ids of units and
    buildings are drawn from their sequences beforehand so that children and households can
    point at them in the same COPY stream.
    """
    say = _Say(stdout)
    with transaction.atomic():
        unit_ids = _insert_units(city)
        say(f"{len(city.units)} grid units")
        _copy(
            StaffMember,
            pd.DataFrame(
                {
                    "unit_id": city.staff["unit_code"].map(unit_ids),
                    "role": city.staff["role"],
                    "name": city.staff["name"],
                    "phone": city.staff["phone"],
                }
            ),
        )
        building_ids = pd.Series(
            _reserve_ids(Building, len(city.buildings)), index=city.buildings["key"].to_numpy()
        )
        buildings = city.buildings.rename_geometry("footprint")
        _copy(
            Building,
            pd.DataFrame(
                {
                    "id": building_ids.to_numpy(),
                    **{
                        c: buildings[c].to_numpy()
                        for c in ("name", "road", "number", "kind", "floors", "units")
                    },
                    "footprint": buildings.geometry.values,
                }
            ),
        )
        say(f"{len(city.staff)} staff, {len(city.buildings)} buildings")
        households = city.households
        located = households["lon"].notna().to_numpy()
        location = np.full(len(households), None, dtype=object)
        location[located] = shapely.points(
            households["lon"].to_numpy()[located], households["lat"].to_numpy()[located]
        )
        columns = [
            c for c in synthcity.HOUSEHOLD_COLUMNS if c not in ("building_key", "lon", "lat")
        ]
        _copy(
            Household,
            pd.DataFrame(
                {
                    "building_id": households["building_key"].map(building_ids).to_numpy(),
                    **{c: households[c].to_numpy() for c in columns},
                    "location": location,
                }
            ),
        )
        say(f"{len(households)} households")
        for model, frame, geometry in (
            (Camera, city.cameras, "location"),
            (Facility, city.facilities, "location"),
            (Road, city.roads, "geom"),
        ):
            _copy(
                model,
                pd.DataFrame(
                    {
                        **{
                            c: frame[c].to_numpy()
                            for c in frame.columns
                            if c != frame.geometry.name
                        },
                        geometry: frame.geometry.values,
                    }
                ),
            )
        say(
            f"{len(city.cameras)} cameras, {len(city.facilities)} facilities, {len(city.roads)} roads"
        )
        with connection.cursor() as cursor:
            for model in (GridUnit, Building, Household, Camera, Facility, Road):
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
        for result in assign_all():
            say(
                f"assigned {result.layer}: {result.assigned} in a grid, {result.unassigned} outside every grid"
            )
    return city.counts()


def delete_network(code: str) -> None:
    """Delete a network's units, staff and everything on it (roads: those crossing it; cameras
    also by their code).

    Incidents are not demo data: they stay and are re-assigned when the network is reloaded.
    """
    network = GridUnit.objects.get(code=code, level=GridUnit.Level.NETWORK)
    area = network.geom
    in_network = Q(grid__code__startswith=code)
    buildings = Building.objects.filter(
        in_network | Q(grid__isnull=True, footprint__intersects=area)
    )
    Household.objects.filter(Q(building__in=buildings) | in_network).delete()
    buildings.delete()
    outside_grids = Q(grid__isnull=True, location__intersects=area)
    # Demo camera codes start with the network code; that also finds one outside every grid.
    Camera.objects.filter(in_network | outside_grids | Q(code__startswith=code)).delete()
    Facility.objects.filter(in_network | outside_grids).delete()
    Road.objects.filter(geom__intersects=area).delete()
    for level in ("grid", "node", "segment", "network"):
        GridUnit.objects.filter(code__startswith=code, level=level).delete()


# --- COPY -------------------------------------------------------------------------------


def _insert_units(city: synthcity.City) -> dict[str, int]:
    units = city.units
    ids = dict(zip(units["code"], _reserve_ids(GridUnit, len(units)).tolist(), strict=True))
    target = np.where(units["level"] == "network", city.grid_target, None)
    for level in synthcity.LEVELS:
        rows = units["level"] == level
        part = units.loc[rows]
        _copy(
            GridUnit,
            pd.DataFrame(
                {
                    "id": part["code"].map(ids).to_numpy(),
                    "level": level,
                    "parent_id": part["parent_code"].map(ids).astype(object).to_numpy()
                    if level != "network"
                    else None,
                    "code": part["code"].to_numpy(),
                    "name": part["name"].to_numpy(),
                    "geom": part.geometry.values,
                    "target_households": target[rows.to_numpy()],
                }
            ),
        )
    return ids


def _reserve_ids(model: type[models.Model], n: int) -> np.ndarray:
    """`n` fresh primary keys from the table's own sequence."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, n],
        )
        return np.array([row[0] for row in cursor.fetchall()], dtype=np.int64)


def _copy(model: type[models.Model], frame: pd.DataFrame) -> None:
    """COPY `frame` (columns named by field attname) into the model's table.

    Fields the frame lacks take their default, so a field added to a model later does not
    break the loader; generated fields are left to the database.
    """
    now = timezone.now()
    data: dict[str, object] = {}
    not_null_text: list[str] = []
    for field in model._meta.concrete_fields:
        if field.generated:
            continue
        if field.attname in frame.columns:
            value = frame[field.attname].to_numpy()
        elif field.primary_key:
            continue
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now
        elif field.has_default():
            value = field.get_default()
        elif field.null:
            value = None
        else:
            raise ValueError(f"{model.__name__}.{field.name} has no value and no default")
        if isinstance(field, GeometryField) and isinstance(value, np.ndarray):
            value = _ewkb(value, field.srid)
        if isinstance(field, models.CharField | models.TextField) and not field.null:
            not_null_text.append(connection.ops.quote_name(field.column))
        data[field.column] = value
    table = pd.DataFrame(data, index=pd.RangeIndex(len(frame)))
    columns = ", ".join(connection.ops.quote_name(c) for c in table.columns)
    # Without FORCE_NOT_NULL an empty text field would arrive as NULL.
    options = "FORMAT csv" + (
        f", FORCE_NOT_NULL ({', '.join(not_null_text)})" if not_null_text else ""
    )
    sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN WITH ({options})"
    with connection.cursor() as cursor:
        for start in range(0, len(table), COPY_CHUNK):
            buffer = io.StringIO()
            table.iloc[start : start + COPY_CHUNK].to_csv(buffer, header=False, index=False)
            buffer.seek(0)
            cursor.copy_expert(sql, buffer)


def _ewkb(geoms: np.ndarray, srid: int) -> np.ndarray:
    present = pd.notna(geoms)
    out = np.full(len(geoms), None, dtype=object)
    if present.any():
        with_srid = shapely.set_srid(np.asarray(geoms[present], dtype=object), srid)
        out[present] = shapely.to_wkb(with_srid, hex=True, include_srid=True)
    return out
