"""Response caching: exact (L1 in process + L2 Redis) and semantic (MiniLM embeddings + a guard).

``alfred.cache.build.build_caches(settings, ...)`` wires the caches and
``alfred.pipeline.cache.CacheStage`` puts them in the request path; ``alfred.cache.settings`` holds
the settings; ``generations`` (per-group flush generations) and ``groups`` (per-group counts and
the flush) serve ``/admin/cache``. Nothing is imported here, so ``alfred.config`` can import the settings module without
pulling numpy or onnxruntime in. docs/cache.md has the design and the measured figures.
"""
