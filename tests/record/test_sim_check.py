"""Answers reduced to their shapes, and how the real and the simulated shapes are compared."""

from __future__ import annotations

from mock_server.record.sim_check import ShapeDifferences, compare_shapes, shape


def _union(*values: object) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for value in values:
        for path, types in shape(value).items():
            found.setdefault(path, set()).update(types)
    return found


def test_a_shape_names_every_path_and_the_types_seen_there():
    assert shape({"data": [{"id": "a", "step": 1}, {"id": "b", "step": None}]}) == {
        "data": {"array"},
        "data[]": {"object"},
        "data[].id": {"string"},
        "data[].step": {"integer", "null"},
    }


def test_a_field_only_a_finished_job_has_is_not_missing_when_any_answer_has_it():
    real = _union({"status": "pending"}, {"status": "completed", "output": "m-1"})
    sim = _union({"status": "completed", "output": "m-2"})

    assert compare_shapes(real, sim) == ShapeDifferences({}, {}, {})


def test_missing_fields_are_named_where_they_start_and_not_below():
    real = _union({"progress": {"seconds": 3, "eta": {"at": "t"}}, "region": {"name": "eu"}})
    sim = _union({"progress": None, "extra": 1})

    assert compare_shapes(real, sim) == ShapeDifferences(
        simulator_lacks={"region": "object"},
        only_simulator_has={"extra": "integer"},
        types={},  # progress is an object for real and null in the simulator: not a difference
    )


def test_types_differ_only_when_nothing_but_null_is_shared():
    real = _union({"n": "3", "lr": 1, "maybe": None, "when": "t"})
    sim = _union({"n": 3, "lr": 1.5, "maybe": "x", "when": 1700000000})

    assert compare_shapes(real, sim).types == {
        "n": ("string", "integer"),
        "when": ("string", "integer"),
    }
