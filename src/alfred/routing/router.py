"""Chooses the ordered list of deployments a call will try: intent rules pick the group, a strategy
orders its deployments, then the fallback groups' deployments follow in order."""

from __future__ import annotations

from collections.abc import Mapping

from alfred.pipeline.call import Call
from alfred.routing.catalog import Deployment, ModelCatalog, ModelGroup
from alfred.routing.intent import IntentRouter
from alfred.routing.strategies import Strategy


class Router:
    """Group choice (intent rules, else the requested model) and deployment order (a strategy per group)."""

    def __init__(
        self,
        catalog: ModelCatalog,
        default_strategy: Strategy,
        *,
        group_strategies: Mapping[str, Strategy] | None = None,
        intents: IntentRouter | None = None,
    ) -> None:
        self._catalog = catalog
        self._default = default_strategy
        self._strategies = dict(group_strategies or {})
        self._intents = intents

    @property
    def catalog(self) -> ModelCatalog:
        """The groups and deployments this router chooses from (the admin API lists them)."""
        return self._catalog

    def group_for(self, call: Call) -> ModelGroup:
        if self._intents is not None:
            rule = self._intents.route(call)
            if rule is not None:
                call.notes["intent_rule"] = rule.name
                return self._catalog.get(rule.group)
        return self._catalog.get(call.request.model)

    def plan(self, call: Call, group: ModelGroup) -> list[Deployment]:
        plan = self._strategies.get(group.name, self._default).order(group.deployments)
        for name in group.fallbacks:
            if name in self._catalog:
                fallback = self._catalog.get(name)
                plan.extend(self._strategies.get(name, self._default).order(fallback.deployments))
        return plan
