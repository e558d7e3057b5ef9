"""align_v1's foreign-key statements come from the model and leave it intact."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from benpipe.dataset.sql import CROSS_PRODUCT_TABLES, cross_product_foreign_keys
from benpipe.db.model import metadata


def _create(name: str) -> str:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return str(CreateTable(metadata.tables[name]).compile(dialect=dialect))


def test_every_foreign_key_is_dropped_and_added_back_by_name() -> None:
    pairs = cross_product_foreign_keys()
    assert pairs, "the cross-product tables reference patches"
    for drop, add in pairs:
        name = drop.rsplit(" ", 1)[1]
        assert name.endswith("_fkey")
        assert f"ADD CONSTRAINT {name} FOREIGN KEY" in add


def test_building_the_statements_keeps_the_keys_in_create_table() -> None:
    """A process that runs align_v1 and then creates a schema (tests, the CLI)
    must still create the foreign keys: SQLAlchemy's AddConstraint would drop
    them from every later CREATE TABLE unless told not to."""
    before = {name: _create(name) for name in CROSS_PRODUCT_TABLES}
    cross_product_foreign_keys()
    after = {name: _create(name) for name in CROSS_PRODUCT_TABLES}
    assert after == before
    assert any("FOREIGN KEY" in sql for sql in after.values())
