"""Whether this Python can train for real: the ``[train]`` extra's packages, found without being
imported (the server never imports torch; the workers it starts run on this same interpreter).

``serve --trainer real`` asks before it starts, so a server that could only fail every job it
accepts refuses to start instead, with the one command that fixes it.
"""

from __future__ import annotations

import importlib.util

__all__ = ["INSTALL_TRAIN", "TRAIN_PACKAGES", "missing_train_extra"]

# The [train] extra's packages (pyproject.toml) that a training worker imports first.
TRAIN_PACKAGES = ("torch", "transformers", "peft")
INSTALL_TRAIN = "pip install 'together-sim[train]'"  # `pip install -e '.[train]'` in a clone


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken install, or a finder that refuses the name
        return False


def missing_train_extra() -> str | None:
    """One line saying what is missing and how to install it, or None when all is there."""
    missing = [name for name in TRAIN_PACKAGES if not _installed(name)]
    if not missing:
        return None
    return (
        f"--trainer real needs {', '.join(missing)} (the [train] extra), not installed in "
        f"this Python: {INSTALL_TRAIN} (from a clone: pip install -e '.[train]')"
    )
