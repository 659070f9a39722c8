"""The ids derived from names, pure, for everything that names a config or a revision: the
project model families (``families/project_models``), which serve them, and the project's
deployments (``projects/deploying.py``), which point at them. One function each, so that a
deployment's ``config`` and ``modelRevisionId`` are ids the configs and models families answer
for (the projects service sits below the families and may not import them).
"""

from __future__ import annotations

import hashlib

__all__ = ["catalogue_revision_id", "config_id_of", "fine_tune_revision_id", "revision_id_of"]


def _hashed(prefix: str, *parts: str) -> str:
    return prefix + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def config_id_of(model_name: str) -> str:
    """The id of the one config a catalogue model is certified with."""
    return _hashed("cr_", "config", model_name)


def revision_id_of(*parts: str) -> str:
    """A revision's id from what made it (a model's name, an upload's id)."""
    return _hashed("rev_", *parts)


def catalogue_revision_id(model_name: str) -> str:
    """The one revision of a catalogue model (the public project's)."""
    return revision_id_of("catalogue", model_name)


def fine_tune_revision_id(job_id: str) -> str:
    """The one revision of a fine-tune's output: the weights its job made."""
    return revision_id_of("fine-tune", job_id)
