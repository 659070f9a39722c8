"""Jig deployments and the volumes they mount (``/deployments``, ``/deployments/storage``).

``model`` declares both kinds of record and the views that read across them; ``deployments`` and
``volumes`` hold the operations, and import ``model``, never each other.
"""
