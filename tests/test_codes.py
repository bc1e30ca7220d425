"""Levels and codes (DB11/T 2157-2023): 6/9/12/15 digits, each starting with its parent's code."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from gridmap import codes
from gridmap.models import GridUnit
from tests.conftest import box, multi

SQUARE = multi(box(98.0, 39.0, 98.001, 39.001))


@pytest.mark.parametrize(
    ("code", "level", "parent"),
    [
        ("620200", "network", None),
        ("620200001", "segment", "620200"),
        ("620200001001", "node", "620200001"),
        ("620200001001001", "grid", "620200001001"),
    ],
)
def test_well_formed_codes_pass(code, level, parent):
    codes.validate_code(code, level, parent)
    assert codes.level_of_code(code) == level


@pytest.mark.parametrize(
    ("code", "level", "parent", "message"),
    [
        ("62020", "network", None, "must have 6 digits"),
        ("62020A", "network", None, "digits only"),
        ("620200", "network", "620200", "has no parent"),
        ("6202000011", "segment", "620200", "must have 9 digits"),
        ("620201001", "segment", "620200", "must start with its parent's code"),
        ("620200000", "segment", "620200", "must not be 000"),
        ("620200001001", "node", None, "needs a parent"),
        ("620200001001001", "grid", "620200001", "is not a node code"),
        ("620200001001001", "province", None, "unknown level"),
    ],
)
def test_malformed_codes_are_refused_with_a_bilingual_reason(code, level, parent, message):
    with pytest.raises(codes.CodeError, match=message) as info:
        codes.validate_code(code, level, parent)
    assert " / " in str(info.value)


def test_child_codes_are_zero_padded_sequences():
    assert codes.child_code("620200001001", 7) == "620200001001007"
    with pytest.raises(codes.CodeError):
        codes.child_code("620200001001", 1000)


def test_grids_are_numbered_west_to_east_then_north_to_south():
    #  a b c      (north row, a slightly lower than b: still the same row)
    #  d e
    centroids = {
        "e": (98.002, 39.000),
        "b": (98.001, 39.0021),
        "d": (98.000, 39.0001),
        "c": (98.002, 39.002),
        "a": (98.000, 39.0019),
    }
    names = list(centroids)
    order = codes.reading_order(list(centroids.values()), row_height_m=100)
    assert [names[i] for i in order] == ["a", "b", "c", "d", "e"]


@pytest.mark.django_db
def test_model_validation_refuses_a_grid_whose_parent_is_a_segment(world):
    grid = GridUnit(
        level="grid", code="620200001001009", name="x", geom=SQUARE, parent=world["segment"]
    )
    with pytest.raises(ValidationError, match="must be a node"):
        grid.full_clean()


@pytest.mark.django_db
def test_model_validation_refuses_an_invalid_geometry(world):
    bowtie = GridUnit.geom.field.to_python(
        "MULTIPOLYGON(((98 39, 98.001 39.001, 98.001 39, 98 39.001, 98 39)))"
    )
    grid = GridUnit(
        level="grid", code="620200001001009", name="x", geom=bowtie, parent=world["node"]
    )
    with pytest.raises(ValidationError, match="invalid geometry"):
        grid.full_clean()


@pytest.mark.django_db
def test_codes_are_unique(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        GridUnit.objects.create(
            level="grid", code=world["g1"].code, name="dup", geom=SQUARE, parent=world["node"]
        )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("level", "code", "parent_key", "message"),
    [
        ("grid", "6202000010010", "node", "gridunit_code_digits_by_level"),
        ("grid", "620200001001009", None, "gridunit_only_network_has_no_parent"),
        ("network", "620300", "node", "has no parent"),
    ],
)
def test_database_refuses_wrong_code_length_or_parent_presence(
    world, level, code, parent_key, message
):
    parent = world[parent_key] if parent_key else None
    with pytest.raises(IntegrityError, match=message), transaction.atomic():
        GridUnit.objects.create(level=level, code=code, name="x", geom=SQUARE, parent=parent)


@pytest.mark.django_db
def test_database_refuses_a_parent_one_level_off_even_from_raw_sql(world):
    with (
        pytest.raises(IntegrityError, match="must be a node"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO gridmap_gridunit (level, code, name, geom, parent_id, version,"
            " created_at, updated_at) VALUES ('grid', '620200001001009', 'x',"
            " ST_Multi(ST_MakeEnvelope(98, 39, 98.001, 39.001, 4326)), %s, 1, now(), now())",
            [world["segment"].id],
        )


@pytest.mark.django_db
def test_database_refuses_a_code_that_does_not_start_with_the_parents(world):
    with (
        pytest.raises(IntegrityError, match="must start with its parent's code"),
        transaction.atomic(),
    ):
        GridUnit.objects.create(
            level="grid", code="620200001002001", name="x", geom=SQUARE, parent=world["node"]
        )
