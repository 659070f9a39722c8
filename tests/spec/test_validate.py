"""Requests read against their schema (``mock_server.spec.validate``): what handlers get back."""

from __future__ import annotations

from mock_server.spec.validate import as_integers

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
