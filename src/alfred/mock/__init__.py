"""The mock upstream: one server speaking every provider's wire format, with injectable faults.

For tests, demos and benchmarks with no network. ``alfred mock-upstream`` runs it; tests import
``build_mock_app``. Replies are deterministic and their token usage follows the request.
"""
