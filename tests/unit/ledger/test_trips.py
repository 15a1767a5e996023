from __future__ import annotations

from alfred.ledger.trips import Query


def test_named_parameters_become_numbered_ones_for_postgresql() -> None:
    q = Query("UPDATE w SET r = r + :amount WHERE id = :id AND b - :amount >= 0 AND t = 'a:b'::text")
    assert q.names == ("amount", "id")
    assert q.postgresql == "UPDATE w SET r = r + $1 WHERE id = $2 AND b - $1 >= 0 AND t = 'a:b'::text"
    assert q.sqlite == "UPDATE w SET r = r + :amount WHERE id = :id AND b - :amount >= 0 AND t = 'a:b'::text"


def test_whitespace_is_collapsed() -> None:
    assert Query("SELECT 1\n   FROM  t\n WHERE x = :x").sqlite == "SELECT 1 FROM t WHERE x = :x"


def test_step_carries_its_parameters() -> None:
    q = Query("SELECT :a, :b")
    step = q(a=1, b=None)
    assert step.query is q and dict(step.params) == {"a": 1, "b": None}
