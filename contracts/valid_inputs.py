"""Creates the target accepts, swapped into a share of the positive cases a run generates.

A schema-valid body is almost never a valid create for the stateful families: a fine-tune needs a
model from the fine-tuning catalogue and an uploaded, checked dataset; an endpoint a deployable
model on hardware listed for it; a batch an uploaded file of requests; a cluster or a shared
volume a region of ``GET /compute/regions`` with its GPU type and driver pair. Without them the
overlay's links from those creates (read, follow, cancel, delete, read after delete) are defined
but hardly ever walked.

So ``ValidInputs.hook`` (a ``flatmap_case`` hook) lets Hypothesis choose, for each positive case of
those creates, between the body as generated, the generated body with the target-dependent
fields swapped for values the target holds valid, and the required fields alone with those
values. Negative cases are never touched: their violation is the point. The values are asked of
the target itself, once per family and only when a create of that family is first generated (a
catalogue model, a region, a dataset and a batch file uploaded for the run), so the same suite
works against any base URL; where the target publishes nothing, the value is the one the spec
states ("num_gpus ... must be multiple of 8. For example, 8"). A family whose discovery fails is
left as generated, and ``summary()`` says why.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

import httpx
from hypothesis import strategies as st

from contracts.target import Target

if TYPE_CHECKING:
    from schemathesis import Case, HookContext

__all__ = ["DATASET", "ValidInputs", "batch_file"]

Facts = dict[str, Any]
Body = dict[str, Any]
WAYS = ("as generated", "swapped", "minimal")

# A tiny conversational dataset in Together's format, the kind `files check` passes.
DATASET = b"".join(
    json.dumps(
        {
            "messages": [
                {"role": "user", "content": f"What is {n} plus {n}?"},
                {"role": "assistant", "content": f"{n} plus {n} is {2 * n}."},
            ]
        }
    ).encode()
    + b"\n"
    for n in range(1, 9)
)


def batch_file(model: str) -> bytes:
    """A batch input file of chat requests to ``model`` (Together's ``custom_id`` + ``body``)."""
    rows = (
        {
            "custom_id": f"contract-{n}",
            "body": {
                "model": model,
                "messages": [{"role": "user", "content": "Say hello."}],
                "max_tokens": 4,
            },
        }
        for n in range(1, 3)
    )
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


class Client(Protocol):
    """httpx's client, or Starlette's test client on the app in this process (not a subclass:
    Starlette builds on its own copy of httpx)."""

    def get(self, url: str, **kwargs: Any) -> Any: ...
    def post(self, url: str, **kwargs: Any) -> Any: ...
    def close(self) -> None: ...


class NotDiscovered(Exception):
    """The target did not give what a family's valid create needs."""


# -- asking the target ----------------------------------------------------------------------------


def _json(response: Any, what: str) -> Any:
    if response.status_code >= 300:
        raise NotDiscovered(f"{what} answered {response.status_code}: {response.text[:160]}")
    return response.json()


def _upload(client: Client, name: str, purpose: str, content: bytes) -> str:
    form = {"purpose": purpose, "file_name": name, "file_type": "jsonl"}
    answer = client.post("/v1/files/upload", data=form, files={"file": (name, content)})
    file_id = _json(answer, f"uploading {name}").get("id")
    if not isinstance(file_id, str):
        raise NotDiscovered(f"uploading {name} gave no file id")
    return file_id


def _fine_tune_models(client: Client) -> list[str]:
    models = _json(
        client.get("/v1/fine-tunes/models/supported"), "GET /fine-tunes/models/supported"
    )
    names = [m for m in models.get("models", []) if isinstance(m, str)]
    if not names:
        raise NotDiscovered("GET /fine-tunes/models/supported lists no model")
    return names


def _chat_models(client: Client) -> list[str]:
    listed = _json(client.get("/v1/models"), "GET /models")
    rows = listed if isinstance(listed, list) else listed.get("data", [])
    return [str(m["id"]) for m in rows if isinstance(m, dict) and m.get("type") == "chat"]


def _fine_tune(client: Client) -> Facts:
    return {
        "model": _fine_tune_models(client)[:4],
        "training_file": _upload(client, "contract-dataset.jsonl", "fine-tune", DATASET),
    }


def _endpoint(client: Client) -> Facts:
    candidates = _fine_tune_models(client)[:3] + _chat_models(client)[:3]
    for model in candidates:
        answer = client.get("/v1/hardware", params={"model": model})
        if answer.status_code >= 300:
            continue
        rows = [h for h in answer.json().get("data", []) if isinstance(h, dict) and h.get("id")]
        available = [h for h in rows if (h.get("availability") or {}).get("status") == "available"]
        if available or rows:
            return {"model": model, "hardware": str((available or rows)[0]["id"])}
    raise NotDiscovered(f"GET /hardware?model= lists no hardware for {', '.join(candidates)}")


def _batch(client: Client) -> Facts:
    models = _chat_models(client)
    if not models:
        raise NotDiscovered("GET /models lists no chat model")
    content = batch_file(models[0])
    return {"input_file_id": _upload(client, "contract-batch.jsonl", "batch-api", content)}


def _uploads(client: Client) -> Facts:
    """The forms of a valid upload: a batch input file where the target lists a chat model, and
    the dataset. The batch file comes first, as the one Hypothesis picks most: the overlay links
    an upload into a batch, which needs it, while the fine-tune flow has its own valid create and
    the upload's other links (read, download, delete) take any file. Text, not bytes: the swapped
    body is checked against the schema again, and a body holding bytes would count as
    schema-violating (a negative case) there."""
    forms = [{"purpose": "fine-tune", "file_name": "contract.jsonl", "file": DATASET.decode()}]
    try:
        models = _chat_models(client)
    except NotDiscovered:
        models = []
    if models:
        batch = {"file_name": "contract-batch.jsonl", "file": batch_file(models[0]).decode()}
        forms.insert(0, {"purpose": "batch-api", **batch})
    return {"form": forms}


def _regions(client: Client) -> Facts:
    regions = _json(client.get("/v1/compute/regions"), "GET /compute/regions").get("regions", [])
    for region in regions:
        gpus = region.get("supported_instance_types") or []
        drivers = region.get("driver_versions") or []
        if region.get("name") and gpus and drivers:
            return {
                "region": region["name"],
                "gpu_type": gpus[0],
                "cuda_version": drivers[0]["cuda_version"],
                "nvidia_driver_version": drivers[0]["nvidia_driver_version"],
            }
    raise NotDiscovered("GET /compute/regions lists no region with a GPU type and a driver")


# -- what each create takes from them -------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """How one create becomes valid: what to ask the target and which of its answers the body
    takes (``fields``); the generated required fields a minimal body keeps (``keep``); and the
    required fields no catalogue publishes, set to the value the spec states or the smallest."""

    discover: Callable[[Client], Facts]
    fields: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)
    whole: bool = False  # the single field is the whole body (a multipart form), not one field


_REGION = ("region", "gpu_type", "cuda_version", "nvidia_driver_version")
RECIPES: Mapping[str, Recipe] = {
    "POST /fine-tunes": Recipe(_fine_tune, ("model", "training_file")),
    "POST /fine-tunes/estimate-price": Recipe(_fine_tune, ("model", "training_file")),
    "POST /endpoints": Recipe(
        _endpoint,
        ("model", "hardware"),
        fixed={"autoscaling": {"min_replicas": 1, "max_replicas": 1}},
    ),
    "POST /batches": Recipe(_batch, ("input_file_id",), fixed={"endpoint": "/v1/chat/completions"}),
    # The spec: "This must be multiple of 8. For example, 8"; ON_DEMAND needs no dates.
    "POST /compute/clusters": Recipe(
        _regions, _REGION, ("cluster_name",), {"num_gpus": 8, "billing_type": "ON_DEMAND"}
    ),
    "POST /compute/clusters/storage/volumes": Recipe(
        _regions, ("region",), ("volume_name",), {"size_tib": 1}
    ),
    "POST /files/upload": Recipe(_uploads, ("form",), whole=True),
}
_FAMILY = {  # creates that share one discovery (and one uploaded file)
    "POST /fine-tunes/estimate-price": "POST /fine-tunes",
    "POST /compute/clusters/storage/volumes": "POST /compute/clusters",
}


@dataclass
class ValidInputs:
    """The valid values of one run's target, discovered on first use, and the hook that swaps
    them in. Thread-safe: the engine may generate from several workers."""

    target: Target
    selected: frozenset[str]
    swapped: Counter[str] = field(default_factory=Counter)
    _facts: dict[str, Facts | NotDiscovered] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _client(self) -> Client:
        headers = {"Authorization": f"Bearer {self.target.api_key}"}
        if self.target.app is not None:
            from starlette.testclient import TestClient

            # Not entered as a context manager: that would run the app's lifespan a second time.
            return cast(
                Client,
                TestClient(
                    self.target.app,
                    base_url=self.target.base_url,
                    headers=headers,
                    raise_server_exceptions=False,
                ),
            )
        return cast(
            Client, httpx.Client(base_url=self.target.base_url, headers=headers, timeout=60)
        )

    def facts(self, label: str) -> Facts | None:
        family = _FAMILY.get(label, label)
        with self._lock:
            if family not in self._facts:
                client = self._client()
                try:
                    self._facts[family] = RECIPES[family].discover(client)
                except Exception as exc:  # whatever the target answered, the run goes on
                    self._facts[family] = NotDiscovered(f"{family}: {exc}")
                finally:
                    client.close()
            found = self._facts[family]
        return None if isinstance(found, NotDiscovered) else found

    def body(self, label: str, generated: Body, facts: Facts, *, minimal: bool, pick: int) -> Body:
        recipe = RECIPES[label]
        chosen = {name: facts[name] for name in recipe.fields}
        chosen = {k: v[pick % len(v)] if isinstance(v, list) else v for k, v in chosen.items()}
        if recipe.whole:
            return {**generated, **chosen[recipe.fields[0]]}
        if minimal:
            kept = {name: generated[name] for name in recipe.keep if name in generated}
            return {**kept, **chosen, **recipe.fixed}
        # The fixed values too: a generated num_gpus or autoscaling is rarely one the target takes.
        return {**generated, **chosen, **recipe.fixed}

    def hook(self) -> Callable[[HookContext, Case[Any]], st.SearchStrategy[Case[Any]]]:
        from schemathesis import GenerationMode
        from schemathesis.generation.meta import TestPhase

        def flatmap_case(context: HookContext, case: Case[Any]) -> st.SearchStrategy[Case[Any]]:
            label = case.operation.label
            meta = case.meta
            if (
                label not in RECIPES
                or label not in self.selected
                or not isinstance(case.body, dict)
                or meta is None
                or meta.generation.mode is not GenerationMode.POSITIVE
            ):
                return st.just(case)
            generated = dict(case.body)

            def swap(choice: tuple[str, int]) -> Case[Any]:
                how, pick = choice
                # Left alone, not reassigned: schemathesis re-checks a body that was set against
                # the schema, and a multipart body holding bytes never passes that check.
                facts = None if how == "as generated" else self.facts(label)
                if facts is None:
                    return case
                case.body = self.body(label, generated, facts, minimal=how == "minimal", pick=pick)
                with self._lock:
                    self.swapped[label] += 1
                return case

            # The stateful phase is there for the flows, which need the create to succeed; the
            # other phases keep bodies as generated too, for the refusals.
            ways = ("swapped", "minimal") if meta.phase.name is TestPhase.STATEFUL else WAYS
            return st.tuples(st.sampled_from(ways), st.integers(0, 3)).map(swap)

        return flatmap_case

    def summary(self) -> list[str]:
        with self._lock:
            failed = [str(f) for f in self._facts.values() if isinstance(f, NotDiscovered)]
            counts = dict(self.swapped)
        lines = [f"valid inputs swapped into {n} bodies of {label}" for label, n in counts.items()]
        return lines + [f"valid inputs not found: {reason}" for reason in failed]
