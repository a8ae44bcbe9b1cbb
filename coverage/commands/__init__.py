"""Command modules of the ``coverage`` CLI, each registering its commands with ``register(app)``."""
