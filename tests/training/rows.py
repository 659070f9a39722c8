"""Small synthetic Together-format datasets for the training tests (pure Python, no torch)."""

from __future__ import annotations

import random
from typing import Any

CAPITALS = {
    "France": "Paris",
    "Peru": "Lima",
    "Spain": "Madrid",
    "Italy": "Rome",
    "Japan": "Tokyo",
    "Chile": "Santiago",
    "Austria": "Vienna",
    "Egypt": "Cairo",
}

Row = dict[str, Any]


def chat_rows(n: int, seed: int = 0) -> list[Row]:
    """Capitals, and sums answered by a pirate: two formats a tiny model learns within ~50 steps."""
    rng = random.Random(seed)
    rows: list[Row] = []
    for i in range(n):
        if i % 2:
            country = rng.choice(list(CAPITALS))
            answer = f"The capital of {country} is {CAPITALS[country]}."
            messages = [{"role": "user", "content": f"What is the capital of {country}?"}]
        else:
            a, b = rng.randint(1, 50), rng.randint(1, 50)
            answer = f"Arr, {a} plus {b} be {a + b}, matey!"
            messages = [
                {"role": "system", "content": "You are a pirate."},
                {"role": "user", "content": f"What is {a} plus {b}?"},
            ]
        rows.append({"messages": [*messages, {"role": "assistant", "content": answer}]})
    return rows


def preference_rows(n: int, seed: int = 0) -> list[Row]:
    rng = random.Random(seed)
    rows: list[Row] = []
    for _ in range(n):
        country = rng.choice(list(CAPITALS))
        rows.append(
            {
                "input": {"messages": [{"role": "user", "content": f"Capital of {country}?"}]},
                "preferred_output": [
                    {"role": "assistant", "content": f"It is {CAPITALS[country]}."}
                ],
                "non_preferred_output": [{"role": "assistant", "content": "No idea, sorry."}],
            }
        )
    return rows
