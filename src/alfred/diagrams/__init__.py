"""Architecture diagrams drawn from the running config: seed 003's Mermaid views and seed 000's image flow.

The names load on first use (``alfred.lazy``), so that mounting ``alfred diagram`` in the CLI costs
nothing until it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from alfred.lazy import lazy_exports

if TYPE_CHECKING:
    from alfred.diagrams.facts import BackendFact, ImageFlowFacts, ImageModelFact, Topology
    from alfred.diagrams.image_flow import render_image_flow
    from alfred.diagrams.render import render_sources, write_diagrams

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BackendFact": "facts",
        "ImageFlowFacts": "facts",
        "ImageModelFact": "facts",
        "Topology": "facts",
        "render_image_flow": "image_flow",
        "render_sources": "render",
        "write_diagrams": "render",
    },
)

__all__ = [
    "BackendFact",
    "ImageFlowFacts",
    "ImageModelFact",
    "Topology",
    "render_image_flow",
    "render_sources",
    "write_diagrams",
]
