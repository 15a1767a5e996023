"""ASGI middleware for the outer, HTTP-level part of the seed's chain (Recover → RequestID → Logger → CORS)."""
