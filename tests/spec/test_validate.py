"""Requests read against their schema (``mock_server.spec.validate``): what handlers get back,
and the numbers no handler ever gets (NaN, the infinities, as Python's json would read them)."""

from __future__ import annotations

import pytest

from mock_server.core.errors import InvalidRequest
from mock_server.spec.request_json import parse_json
from mock_server.spec.validate import as_integers, coerce_text

SCHEMA = {
    "type": "object",
    "properties": {
        "replicas": {"type": "integer"},
        "temperature": {"type": "number"},
        "steps": {"type": "array", "items": {"type": "integer"}},
        "seed": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
    },
}


def test_a_json_integer_written_with_a_fraction_reaches_the_handler_as_an_int() -> None:
    read = as_integers(
        {"replicas": 25.0, "temperature": 1.0, "steps": [1.0, 2.5], "seed": 3.0, "extra": 4.0},
        SCHEMA,
    )
    assert read == {"replicas": 25, "temperature": 1.0, "steps": [1, 2.5], "seed": 3, "extra": 4.0}
    assert type(read["replicas"]) is int and type(read["temperature"]) is float
    assert type(read["extra"]) is float  # no schema says it is an integer


@pytest.mark.parametrize(
    ("text", "param"),
    [
        ('{"learning_rate": NaN}', "learning_rate"),
        ('{"a": {"b": [1, 2, Infinity]}}', "a.b.2"),
        ('{"ok": 1.5, "x": -Infinity}', "x"),
        ('{"huge": 1e400}', "huge"),  # read as infinity
        ("NaN", None),
    ],
)
def test_a_body_number_that_is_not_finite_is_refused_naming_where_it_is(
    text: str, param: str | None
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_json(text.encode())
    where = f"{param}: " if param else ""
    assert (caught.value.message, caught.value.param) == (f"{where}must be a finite number", param)


def test_a_body_of_finite_numbers_reads_as_json_does() -> None:
    assert parse_json(b'{"a": 1e300, "b": -0.5, "c": [1, 2]}') == {
        "a": 1e300,
        "b": -0.5,
        "c": [1, 2],
    }
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        parse_json(b"{oops")


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-Infinity", "1e400"])
def test_a_query_or_form_value_that_is_not_finite_stays_text(text: str) -> None:
    # ... so the schema's type check refuses it, naming the parameter.
    assert coerce_text(text, {"type": "number"}) == text
    assert coerce_text("2.5", {"type": "number"}) == 2.5
