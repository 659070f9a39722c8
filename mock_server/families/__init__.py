"""The stateful resource families beyond fine-tuning, files and dedicated endpoints: one module
per family, each a table of the spec operations it serves (``Operation``s over the ``Resources``
service in ``mock_server/families/engine.py``), gathered in ``families/table.py`` and mounted by
``families/routes.py`` before the generic layer.

This package's own module imports nothing: the batches' service and ``app.py`` use the engine
without loading every family (~12 ms of a start), which happens with the routes, on the first
request for one.

Kinds whose views read each other share a package (``clusters/``, ``deployments/``, ``rl/``) whose
``model`` module declares them, so that no two modules import each other."""
