"""The ID number's index (migration 0028): still unique on each backend, and on PostgreSQL the one unique index on the
reversed ID serves the lookups by the whole ID (registration, the survey's merge) and the search by its last
digits."""
import uuid
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import select

from core.db import get_engine
from models.child import Child, resident_id_is
from tests.conftest import BACKENDS
from tests.factories import make_resident_id


def _child(resident_id: str) -> Child:
    return Child(resident_id=resident_id, full_name="测试儿童" + uuid.uuid4().hex[:4], birth_date=date(2015, 3, 15),
                 hukou_county_code="511321", residence_county_code="350302", arrival_date=date(2023, 8, 20),
                 created_at=datetime.now(UTC), created_by="test")


def test_a_second_child_with_the_same_id_number_is_refused_by_the_database(database_url, session):
    rid = make_resident_id()
    session.add(_child(rid))
    session.flush()
    with pytest.raises(sa.exc.IntegrityError), session.begin_nested():
        session.add(_child(rid))
        session.flush()
    assert session.exec(select(Child.resident_id).where(resident_id_is(Child.resident_id, rid))).all() == [rid]


@pytest.mark.parametrize("database_url", ["postgresql"] if "postgresql" in BACKENDS else [], indirect=True)
def test_the_whole_id_and_its_end_are_looked_up_through_the_one_unique_index_on_postgresql(database_url, session):
    indexes = {row[0]: row[1] for row in session.connection().exec_driver_sql(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'child'")}
    on_id = [name for name, definition in indexes.items() if "resident_id" in definition]
    assert on_id == ["uq_child_resident_id_reversed"], indexes
    from web.list_search import Search, child_search

    rid = make_resident_id()
    for condition in (resident_id_is(Child.resident_id, rid), child_search(Search.of(rid[-8:]))):
        compiled = sa.select(Child.id).where(condition).compile(get_engine())
        with get_engine().connect() as conn:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params).scalars())
        assert "uq_child_resident_id_reversed" in plan and "Index Cond" in plan, plan
