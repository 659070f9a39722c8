"""The simulator's own controls under ``/_sim`` (clock, reset, trainer, failing a job) and the
dashboard at ``/_sim/ui``: operations Together does not have."""
