"""Record and replay: ``together-sim record`` proxies a session with the real service into a
cassette (``proxy.py``, ``cassette.py``, ``bodies.py``, ``redact.py``), ``serve --replay`` answers
from it (``replay.py``, ``matching.py``), and ``drift`` compares it with the pinned spec and the
simulator (``spec_check.py``, ``sim_check.py``, ``drift.py``, ``report.py``)."""
