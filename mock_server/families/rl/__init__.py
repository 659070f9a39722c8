"""RL training sessions (``/rl/training-sessions``), their operations and checkpoints.

``model`` declares sessions and operations and the views that read across them; ``sessions``,
``operations`` and ``checkpoints`` hold the spec operations and import ``model``, never each other.
``outputs`` is pure: what each operation answers.
"""
