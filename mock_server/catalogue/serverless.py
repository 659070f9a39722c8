"""The serverless models of the API families beside chat: embedding, rerank, image, text-to-speech
and speech-to-text models, with the facts their answers depend on.

``fine_tuning.py`` holds the fine-tunable chat models and their training limits; these models are
never fine-tuned, so they live here. Each family answers a request only for its own models (an
embedding request naming a chat model is Together's 404 ``model_not_available``), and the figures
below decide the shape of an answer: an embedding's length, an image's largest side, a voice's
sample rate.

Sources (figures were carried over, not code):

* The pinned spec's request schemas: their model enums and examples (``EmbeddingsRequest``,
  ``RerankRequest``, ``/images/generations``, ``AudioSpeechRequest``,
  ``AudioTranscriptionRequest``) and ``AudioSpeechRequest.sample_rate`` ("Orpheus and Kokoro models
  always output at 24000 Hz"; Cartesia defaults to 44100).
* Embedding dimensions and context lengths are the public model cards' (``hidden_size`` and
  ``max_position_embeddings``: BGE large and UAE large 1024 and 512, BGE base 768 and 512, M2-BERT
  768 and its name's window).
* Image limits: "Image generation parameters" in Together's docs (n 1-4, steps 1-50).
* Voices: the spec's examples (``tara``, ``af_alloy``, ``friendly sidekick``), the Together
  text-to-speech reference (``laidback woman``, ``polite man``, ``storyteller lady``), and the
  Orpheus and Kokoro model cards. Each list is a subset of what the service offers.

Figures no public source gives are marked ``# estimated`` where they are set.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from mock_server.core.errors import InvalidRequest, NotFound, TogetherError

__all__ = [
    "EMBEDDING_MODELS",
    "IMAGE_MODELS",
    "RERANK_MODELS",
    "SPEECH_MODELS",
    "TRANSCRIPTION_MODELS",
    "EmbeddingModel",
    "ImageModel",
    "RerankModel",
    "SpeechModel",
    "embedding_model",
    "image_model",
    "listed",
    "rerank_model",
    "speech_model",
    "transcription_model",
    "unavailable",
]


@dataclass(frozen=True, slots=True)
class EmbeddingModel:
    name: str
    dimension: int  # the length of every vector it returns
    context_length: int  # tokens of one input


@dataclass(frozen=True, slots=True)
class RerankModel:
    name: str
    context_length: int  # tokens of the query and one document together


@dataclass(frozen=True, slots=True)
class ImageModel:
    name: str
    max_side: int  # the largest width or height it draws, in pixels
    max_steps: int
    max_images: int  # the largest ``n``


@dataclass(frozen=True, slots=True)
class SpeechModel:
    name: str
    voices: tuple[str, ...]
    sample_rate: int | None  # fixed output rate; None: the request's ``sample_rate`` is used
    mixes_voices: bool = False  # Kokoro's "af_bella(2)+af_heart(1)"


EMBEDDING_MODELS: Final = (
    EmbeddingModel("BAAI/bge-large-en-v1.5", dimension=1024, context_length=512),
    EmbeddingModel("BAAI/bge-base-en-v1.5", dimension=768, context_length=512),
    EmbeddingModel("WhereIsAI/UAE-Large-V1", dimension=1024, context_length=512),
    EmbeddingModel("togethercomputer/m2-bert-80M-8k-retrieval", dimension=768, context_length=8192),
    EmbeddingModel("togethercomputer/m2-bert-80M-2k-retrieval", dimension=768, context_length=2048),
    EmbeddingModel(
        "togethercomputer/m2-bert-80M-32k-retrieval", dimension=768, context_length=32768
    ),
    EmbeddingModel("intfloat/multilingual-e5-large-instruct", dimension=1024, context_length=514),
)

RERANK_MODELS: Final = (
    RerankModel("Salesforce/Llama-Rank-V1", context_length=8192),
    RerankModel("mixedbread-ai/Mxbai-Rerank-Large-V2", context_length=8192),  # estimated
)

# Together's image parameters page: n is 1-4, steps 1-50, sides best multiples of 8. The largest
# side is not published.  # estimated
IMAGE_MODELS: Final = tuple(
    ImageModel(f"black-forest-labs/{name}", max_side=1792, max_steps=50, max_images=4)
    for name in (
        "FLUX.1-schnell-Free",
        "FLUX.1-schnell",
        "FLUX.1.1-pro",
        "FLUX.1-dev",
        "FLUX.1-kontext-pro",
        "FLUX.2-pro",
        "FLUX.2-dev",
    )
)

_KOKORO_VOICES = (
    *(
        f"af_{v}"
        for v in "alloy aoede bella heart jessica kore nicole nova river sarah sky".split()
    ),
    *(f"am_{v}" for v in "adam echo eric fenrir liam michael onyx puck".split()),
    *(f"bf_{v}" for v in "alice emma isabella lily".split()),
    *(f"bm_{v}" for v in "daniel fable george lewis".split()),
)
SPEECH_MODELS: Final = (
    SpeechModel(
        "canopylabs/orpheus-3b-0.1-ft",
        voices=("tara", "leah", "jess", "leo", "dan", "mia", "zac", "zoe"),
        sample_rate=24_000,
    ),
    SpeechModel("hexgrad/Kokoro-82M", voices=_KOKORO_VOICES, sample_rate=24_000, mixes_voices=True),
    SpeechModel(
        "cartesia/sonic",
        voices=("friendly sidekick", "laidback woman", "polite man", "storyteller lady"),
        sample_rate=None,
    ),
    SpeechModel(
        "cartesia/sonic-2",
        voices=("friendly sidekick", "laidback woman", "polite man", "storyteller lady"),
        sample_rate=None,
    ),
)

TRANSCRIPTION_MODELS: Final = ("openai/whisper-large-v3",)


_EMBEDDING: Final = MappingProxyType({m.name.casefold(): m for m in EMBEDDING_MODELS})
_RERANK: Final = MappingProxyType({m.name.casefold(): m for m in RERANK_MODELS})
_IMAGE: Final = MappingProxyType({m.name.casefold(): m for m in IMAGE_MODELS})
_SPEECH: Final = MappingProxyType({m.name.casefold(): m for m in SPEECH_MODELS})


# Lookups ignore case: the spec itself spells the rerank model both ``Llama-Rank-v1`` and
# ``Llama-Rank-V1``.
def embedding_model(name: str) -> EmbeddingModel | None:
    return _EMBEDDING.get(name.casefold())


def rerank_model(name: str) -> RerankModel | None:
    return _RERANK.get(name.casefold())


def image_model(name: str) -> ImageModel | None:
    return _IMAGE.get(name.casefold())


def speech_model(name: str) -> SpeechModel | None:
    return _SPEECH.get(name.casefold())


def transcription_model(name: str) -> str | None:
    return next((m for m in TRANSCRIPTION_MODELS if m.casefold() == name.casefold()), None)


def unavailable(name: str, *, status: int = 404) -> TogetherError:
    """Together's answer to a model that does not serve this family: its 404 (the overlay
    documents it where the spec does not), or a 400 where a model is one field among others
    (a batch line, a voices filter)."""
    message = (
        f"Unable to access model {name}. Please visit https://api.together.ai/models to view the "
        "list of supported models."
    )
    if status == 404:
        return NotFound("model", name, message=message, param="model", code="model_not_available")
    return InvalidRequest(message, param="model", code="model_not_available")


def listed() -> list[dict[str, Any]]:
    """The embedding, rerank and image models as ``GET /models`` lists them (``ModelInfo``; its
    ``type`` enum has no audio type, so the speech and transcription models are not listed)."""
    families: tuple[tuple[str, tuple[Any, ...]], ...] = (
        ("embedding", EMBEDDING_MODELS),
        ("rerank", RERANK_MODELS),
        ("image", IMAGE_MODELS),
    )
    models = []
    for kind, entries in families:
        for entry in entries:
            info = {
                "id": entry.name,
                "object": "model",
                "created": 1_700_000_000,
                "type": kind,
                "display_name": entry.name.rsplit("/", 1)[-1],
                "organization": entry.name.split("/", 1)[0],
            }
            if hasattr(entry, "context_length"):
                info["context_length"] = entry.context_length
            models.append(info)
    return models
