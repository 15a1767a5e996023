"""Chooses the ordered list of deployments a call will try: its group's, then its fallbacks'."""

from __future__ import annotations

import random

from alfred.pipeline.call import Call
from alfred.routing.catalog import Deployment, ModelCatalog, ModelGroup


class Router:
    """Weighted choice among a group's deployments, then the fallback groups' in order."""

    def __init__(self, catalog: ModelCatalog, rng: random.Random | None = None) -> None:
        self._catalog = catalog
        self._rng = rng or random.Random()  # noqa: S311 - load spreading, not security

    def group_for(self, call: Call) -> ModelGroup:
        return self._catalog.get(call.request.model)

    def plan(self, call: Call, group: ModelGroup) -> list[Deployment]:
        plan = self._weighted_order(group.deployments)
        for name in group.fallbacks:
            if name in self._catalog:
                plan.extend(self._weighted_order(self._catalog.get(name).deployments))
        return plan

    def _weighted_order(self, deployments: tuple[Deployment, ...]) -> list[Deployment]:
        if len(deployments) == 1:
            return [deployments[0]]
        # Efraimidis-Spirakis: a weighted random permutation in one pass.
        keyed = [(self._rng.random() ** (1.0 / d.weight) if d.weight > 0 else -1.0, d) for d in deployments]
        keyed.sort(key=lambda pair: pair[0], reverse=True)
        return [d for _, d in keyed]
