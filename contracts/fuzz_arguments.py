"""What the client fuzzing passes the real SDKs: hypothesis strategies for the arguments a user
gives ``files.upload`` (a training file), ``fine_tuning.create`` and ``chat.completions.create``,
mostly valid, sometimes just outside a range or far off, so both the server's refusals and its
answers get judged (``client_fuzz``). Kept apart from the judging: these say what to try, that
says what is right, and the 1.5.x line (``client_fuzz_v1``) draws from the same ones.
"""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "JOB_CALLS",
    "chat_arguments",
    "fine_tune_arguments",
    "number_around",
    "training_rows",
    "unknown_job_ids",
]

_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)
_SUFFIX = st.one_of(
    st.text(alphabet=string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=20),
    _TEXT,
    st.text(alphabet=string.ascii_letters, min_size=41, max_size=80),
)


# The job calls both SDK lines make on an id, and the operation each one targets.
JOB_CALLS = {
    "retrieve": "get /fine-tunes/{id}",
    "list_events": "get /fine-tunes/{id}/events",
    "cancel": "post /fine-tunes/{id}/cancel",
}


def unknown_job_ids() -> st.SearchStrategy[str]:
    """Ids shaped like a job's that name no job (the server answers 404)."""
    return st.text(alphabet="abcdef0123456789-", min_size=1, max_size=36).map(lambda s: "ft-" + s)


def training_rows(*, broken: bool) -> st.SearchStrategy[bytes]:
    """A small chat JSONL file of user/assistant turns; with ``broken``, some lines are not
    JSON objects."""
    exchange = st.tuples(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30)).map(
        lambda qa: [{"role": "user", "content": qa[0]}, {"role": "assistant", "content": qa[1]}]
    )
    row = st.builds(
        lambda system, turns: {
            "messages": [
                *([{"role": "system", "content": system}] if system else []),
                *(message for turn in turns for message in turn),
            ]
        },
        st.one_of(st.none(), st.text(max_size=20)),
        st.lists(exchange, min_size=1, max_size=3),
    )
    lines = st.lists(row.map(json.dumps), min_size=1, max_size=5)
    if broken:
        bad = st.sampled_from(["{not json", "[1, 2]", '"text"', "{"])
        lines = st.tuples(lines, st.lists(bad, min_size=1, max_size=2)).map(lambda p: p[0] + p[1])
    return lines.map(lambda ls: ("\n".join(ls) + "\n").encode())


def number_around(low: float, high: float) -> st.SearchStrategy[float]:
    """Mostly in range, sometimes just outside it or far off."""
    return st.one_of(
        st.floats(low, high, allow_nan=False),
        st.sampled_from([low, high, -1.0, 0.0, 10.0 * high + 1]),
    )


def fine_tune_arguments() -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for ``fine_tuning.create`` (training file and model left to the test)."""
    optional = {
        "n_epochs": st.integers(-1, 5),
        "n_checkpoints": st.integers(0, 3),
        "learning_rate": number_around(1e-6, 1e-2),
        "batch_size": st.one_of(st.just("max"), st.integers(-1, 40), st.just(1024)),
        "lora_r": st.integers(0, 64),
        "lora_alpha": st.integers(0, 128),
        "lora_dropout": number_around(0.0, 0.5),
        "suffix": _SUFFIX,
        "warmup_ratio": number_around(0.0, 1.0),
        "train_on_inputs": st.one_of(st.booleans(), st.just("auto")),
        "n_evals": st.integers(0, 3),
        "with_validation": st.booleans(),
    }
    method = st.one_of(
        st.fixed_dictionaries({"training_method": st.just("sft")}),
        st.fixed_dictionaries(
            {"training_method": st.just("dpo")},
            optional={
                "dpo_beta": number_around(0.0, 1.0),
                "dpo_normalize_logratios_by_length": st.booleans(),
                "rpo_alpha": number_around(0.0, 2.0),
                "simpo_gamma": number_around(0.0, 2.0),
            },
        ),
    )
    return st.tuples(st.fixed_dictionaries({"lora": st.booleans()}, optional=optional), method).map(
        lambda pair: {**pair[0], **pair[1]}
    )


def chat_arguments() -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for ``chat.completions.create`` (the model left to the test)."""
    message = st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant"]), "content": _TEXT}
    )
    return st.fixed_dictionaries(
        {"messages": st.lists(message, min_size=1, max_size=4), "stream": st.booleans()},
        optional={
            "max_tokens": st.integers(-1, 64),
            "temperature": number_around(0.0, 2.0),
            "stop": st.one_of(_TEXT, st.lists(_TEXT, max_size=3)),
        },
    )
