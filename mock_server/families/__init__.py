"""The stateful resource families beyond fine-tuning, files and dedicated endpoints: one module
per family, each a table of the spec operations it serves (``Operation``s over the ``Resources``
service in ``mock_server/families/engine.py``), gathered in ``families/table.py`` and mounted by
``families/routes.py`` before the generic layer.

This package's own module imports nothing, so the engine (the batches' service runs on it) loads
without every family; they are imported with their routes, on the first request for one.

Kinds whose views read each other share a package (``clusters/``, ``deployments/``, ``rl/``) whose
``model`` module declares them, so that no two modules import each other."""
