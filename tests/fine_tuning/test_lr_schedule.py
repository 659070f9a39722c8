"""Learning-rate schedules against transformers' formulas, written out here step by step.

transformers' ``get_linear_schedule_with_warmup``, ``get_cosine_schedule_with_warmup`` and
``get_cosine_with_min_lr_schedule_with_warmup`` return a factor of the peak for optimizer step
``step`` (counted from 0); Together adds the ``min_lr_ratio`` floor to both decays.
"""

from __future__ import annotations

import math

import pytest

from mock_server.fine_tuning.lr_schedule import Schedule


def hf_linear(step: int, warmup: int, total: int, min_ratio: float = 0.0) -> float:
    if step < warmup:
        return step / max(1, warmup)
    decay = max(0.0, (total - step) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * decay


def hf_cosine(
    step: int, warmup: int, total: int, cycles: float = 0.5, min_ratio: float = 0.0
) -> float:
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    factor = 0.5 * (1.0 + math.cos(math.pi * cycles * 2.0 * progress))
    return max(0.0, factor * (1 - min_ratio) + min_ratio)


def test_warmup_steps_round_up() -> None:
    assert Schedule(peak=1.0, total_steps=10, warmup_ratio=0.0).warmup_steps == 0
    assert Schedule(peak=1.0, total_steps=10, warmup_ratio=0.2).warmup_steps == 2
    assert Schedule(peak=1.0, total_steps=10, warmup_ratio=0.15).warmup_steps == 2
    assert Schedule(peak=1.0, total_steps=7, warmup_ratio=1.0).warmup_steps == 7


def test_linear_without_warmup_falls_from_the_peak_to_zero() -> None:
    s = Schedule(peak=1e-3, total_steps=4)
    assert [s.lr_at(step) for step in range(5)] == pytest.approx(
        [1e-3, 7.5e-4, 5e-4, 2.5e-4, 0.0], abs=1e-18
    )


def test_linear_with_warmup_climbs_then_falls() -> None:
    s = Schedule(peak=1e-3, total_steps=10, warmup_ratio=0.2)
    assert [s.factor(step) for step in range(11)] == pytest.approx(
        [0.0, 0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0]
    )


def test_linear_with_a_floor_stops_at_min_lr_ratio() -> None:
    s = Schedule(peak=2e-4, total_steps=10, warmup_ratio=0.2, min_lr_ratio=0.1)
    assert s.lr_at(6) == pytest.approx(2e-4 * (0.1 + 0.9 * 0.5))
    assert s.lr_at(10) == pytest.approx(2e-5)
    assert s.lr_at(25) == pytest.approx(2e-5)  # past the end it stays on the floor
    assert s.lr_at(1) == pytest.approx(1e-4)  # warmup ignores the floor, as transformers does


def test_cosine_half_cycle_by_hand() -> None:
    s = Schedule(peak=1.0, total_steps=10, warmup_ratio=0.2, kind="cosine")
    assert s.factor(2) == pytest.approx(1.0)
    assert s.factor(4) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))  # 0.8535...
    assert s.factor(4) == pytest.approx(0.8535533905932737)
    assert s.factor(6) == pytest.approx(0.5)
    assert s.factor(10) == pytest.approx(0.0, abs=1e-15)


def test_cosine_with_one_full_cycle_comes_back_to_the_peak() -> None:
    s = Schedule(peak=1.0, total_steps=8, kind="cosine", num_cycles=1.0)
    assert [s.factor(step) for step in (0, 2, 4, 6, 8)] == pytest.approx(
        [1.0, 0.5, 0.0, 0.5, 1.0], abs=1e-12
    )


def test_cosine_with_a_floor_never_goes_below_it() -> None:
    s = Schedule(peak=1.0, total_steps=8, kind="cosine", num_cycles=1.0, min_lr_ratio=0.25)
    assert s.factor(4) == pytest.approx(0.25)
    assert min(s.factor(step) for step in range(9)) == pytest.approx(0.25)


@pytest.mark.parametrize("total", [1, 2, 7, 100])
@pytest.mark.parametrize("warmup_ratio", [0.0, 0.03, 0.5, 1.0])
@pytest.mark.parametrize("min_ratio", [0.0, 0.1])
def test_linear_matches_transformers_at_every_step(
    total: int, warmup_ratio: float, min_ratio: float
) -> None:
    s = Schedule(peak=3e-4, total_steps=total, warmup_ratio=warmup_ratio, min_lr_ratio=min_ratio)
    warmup = math.ceil(total * warmup_ratio)
    for step in range(total):  # the steps an optimizer takes: 0 .. total - 1
        assert s.lr_at(step) == pytest.approx(3e-4 * hf_linear(step, warmup, total, min_ratio))


@pytest.mark.parametrize("total", [1, 2, 7, 100])
@pytest.mark.parametrize("warmup_ratio", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("cycles", [0.5, 1.0, 2.5])
@pytest.mark.parametrize("min_ratio", [0.0, 0.3])
def test_cosine_matches_transformers_at_every_step(
    total: int, warmup_ratio: float, cycles: float, min_ratio: float
) -> None:
    s = Schedule(
        peak=1e-5,
        total_steps=total,
        warmup_ratio=warmup_ratio,
        kind="cosine",
        num_cycles=cycles,
        min_lr_ratio=min_ratio,
    )
    warmup = math.ceil(total * warmup_ratio)
    for step in range(total):
        expected = 1e-5 * hf_cosine(step, warmup, total, cycles, min_ratio)
        assert s.lr_at(step) == pytest.approx(expected, abs=1e-20)
