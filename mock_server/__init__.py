"""together-sim: an offline, stateful simulator of the Together AI fine-tuning API."""

__version__ = "0.1.0"
