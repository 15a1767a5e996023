"""Parts of the composition root too large for ``app.py``: each wires one subsystem from settings."""
