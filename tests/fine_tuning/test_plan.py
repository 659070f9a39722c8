def test_a_plan_evicted_by_another_thread_between_its_read_and_its_touch_is_no_error() -> None:
    from collections import OrderedDict

    from mock_server.fine_tuning.remembered import touch

    kept: OrderedDict[tuple[str, ...], int] = OrderedDict([(("a",), 1), (("b",), 2)])
    touch(kept, ("a",))
    assert list(kept) == [("b",), ("a",)]
    kept.popitem(last=False)  # another thread's insertion evicts ("b",) after this one read it
    touch(kept, ("b",))
    assert list(kept) == [("a",)]
