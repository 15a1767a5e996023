"""The side-by-side benchmark harness: ``python -m bench.run``, ``python -m bench.report``, ``python -m bench.compare``.

The older ``*_bench.py`` files beside this package are single-process micro-benchmarks of one component each.
"""
