"""A value built once, by whoever asks for it first: a lazy route group's routes, the services a
fine-tuning client never calls. Requests run on the event loop and in worker threads, so two may
ask at the same moment: the build runs under a lock and both get its one value; every read after
it takes no lock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar, cast

__all__ = ["Once"]

T = TypeVar("T")


class Once(Generic[T]):
    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._done = False
        self._value: T | None = None

    @property
    def done(self) -> bool:
        return self._done

    def get(self) -> T:
        if not self._done:
            with self._lock:
                if not self._done:
                    self._value = self._build()
                    self._done = True
        return cast(T, self._value)  # built: a T, even where T admits None
