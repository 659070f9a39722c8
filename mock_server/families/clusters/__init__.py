"""GPU clusters and their shared volumes (``/compute/clusters``, ``/compute/clusters/storage``).

``model`` declares both kinds of record and the views that read across them; ``clusters`` and
``shared_volumes`` hold the operations, and import ``model``, never each other's views.
"""
