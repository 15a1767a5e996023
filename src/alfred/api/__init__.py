"""The HTTP surface: wire formats in, canonical calls through the pipeline, wire formats out."""
