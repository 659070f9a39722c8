"""The contract suite: schemathesis 4 on the pinned spec (with ``openapi/overlay.yaml``, whose
links drive the stateful flows), runnable against any base URL.

- ``target``: what a run points at (a URL, the real service only on opt-in, or the simulator in
  this process); ``selection``: which operations run, and the ones that cost money;
- ``loading``: the schema and configuration for a target (``schemathesis.toml`` beside it);
  ``check_rules``: narrow corrections of checks; ``known_gaps``: simulator bugs found, not fixed;
  ``valid_inputs``: values the target holds valid, swapped into a share of the creates;
- ``runner``: one run through schemathesis's engine; ``coverage``: operations x statuses;
- ``cli``: ``together-sim contract``; ``suite`` and ``pytest_tests``: the same checks as pytest
  tests (``pytest --pyargs contracts.suite``);
- ``client_fuzz`` and ``client_fuzz_v1``: the real SDKs (3.x, 1.5.x) driven with generated
  arguments (``fuzz_arguments``), every exchange judged against the spec as ``spec_oracle`` and
  ``spec_schemas`` read it, a reading of their own that imports nothing from the simulator under
  test.
"""
