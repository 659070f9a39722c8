"""``Once``: a value built by whoever asks first, one build whatever the threads."""

from __future__ import annotations

import threading

from mock_server.core.once import Once


def test_it_is_built_once_when_many_ask_at_once() -> None:
    builds: list[int] = []
    gate = threading.Event()

    def build() -> object:
        builds.append(1)
        gate.wait(5)  # the others ask while this build is under way
        return object()

    once = Once(build)
    got: list[object] = []
    askers = [threading.Thread(target=lambda: got.append(once.get())) for _ in range(6)]
    for asker in askers:
        asker.start()
    gate.set()
    for asker in askers:
        asker.join()
    assert builds == [1]
    assert len(got) == 6 and all(g is got[0] for g in got)


def test_a_value_that_is_none_is_built_once_too() -> None:
    builds: list[int] = []
    once: Once[None] = Once(lambda: builds.append(1))
    assert not once.done
    assert (once.get(), once.get(), once.done, builds) == (None, None, True, [1])
