"""The command line's parts that concern flags rather than commands: ``serve``'s flags, one per
field of :class:`mock_server.settings.Settings` (built from the fields, never copied by hand),
the settings a command line names, and the parser that adds a sub-command's flags on first use,
so that ``together-sim advance`` does not import pydantic to build ``serve``'s.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

__all__ = ["LazyFlagsParser", "given_settings", "settings_flags"]


class LazyFlagsParser(argparse.ArgumentParser):
    """A parser that can add its flags on first use (a parse or its help), for sub-commands whose
    flags need an import that every other command would pay for."""

    def __init__(
        self, *args: Any, flags: Callable[[argparse.ArgumentParser], None] | None = None, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self._flags = flags

    def _add_flags(self) -> None:
        if self._flags is not None:
            flags, self._flags = self._flags, None
            flags(self)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._add_flags()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._add_flags()
        return super().format_usage()

    def format_help(self) -> str:
        self._add_flags()
        return super().format_help()


def _setting_type(annotation: Any) -> Any:
    """The type a setting holds when it is set: ``int | None`` is an ``int``."""
    if get_origin(annotation) in (Union, type(int | None)):
        (inner,) = (arg for arg in get_args(annotation) if arg is not type(None))
        return inner
    return annotation


def _setting_help(description: str | None, default: Any, env: str) -> str:
    if isinstance(default, bool):
        shown = "on" if default else "off"
    elif isinstance(default, Enum):
        shown = str(default.value)
    else:
        shown = "" if default is None else str(default)
    extra = f"default: {shown}; env {env}" if shown else f"env {env}"
    return f"{description or ''} ({extra})".strip().replace("%", "%%")


def settings_flags(serve: argparse.ArgumentParser) -> None:
    """A flag per field of :class:`Settings`, its ``dest`` the field name. Every flag defaults to
    None, and :func:`given_settings` passes only the flags given, so that an unset flag leaves the
    field to its ``TOGETHER_SIM_*`` variable and then its default."""
    from pydantic_core import PydanticUndefined

    from mock_server.settings import Flag, Settings

    prefix = str(Settings.model_config.get("env_prefix", ""))
    for name, field in Settings.model_fields.items():
        flag = next((m for m in field.metadata if isinstance(m, Flag)), Flag())
        kind = _setting_type(field.annotation)
        default = None if field.default is PydanticUndefined else field.default
        options: dict[str, Any] = {
            "dest": name,
            "default": None,
            "help": _setting_help(field.description, default, prefix + name.upper()),
        }
        if flag.metavar is not None:
            options["metavar"] = flag.metavar
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif get_origin(kind) is list:
            options["action"] = "append"
        elif get_origin(kind) is Literal:
            options["choices"] = [str(choice) for choice in get_args(kind)]
        elif isinstance(kind, type) and issubclass(kind, Enum):
            options["choices"] = [str(member.value) for member in kind]
        elif kind in (int, float):
            options["type"] = kind
        # Anything else (str, Path) goes as given: Settings parses it as it parses a variable.
        serve.add_argument(flag.name or "--" + name.replace("_", "-"), **options)


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings named on the command line, by field name: the rest come from the
    environment, then the defaults."""
    from mock_server.settings import Settings

    return {
        name: getattr(args, name)
        for name in Settings.model_fields
        if getattr(args, name, None) is not None
    }
