"""Governance at request time: who is calling (auth) and who pays (quota), over the ``ledger`` data layer.

``settings`` is the ``governance:`` config section; the stages live in ``alfred.pipeline.auth`` and
``alfred.pipeline.quota``; ``build`` wires them for the composition root.
"""
