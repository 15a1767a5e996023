"""Architecture diagrams drawn from the running config: seed 003's Mermaid views and seed 000's image flow."""

from alfred.diagrams.facts import BackendFact, ImageFlowFacts, ImageModelFact, Topology
from alfred.diagrams.image_flow import render_image_flow
from alfred.diagrams.render import render_sources, write_diagrams

__all__ = [
    "BackendFact",
    "ImageFlowFacts",
    "ImageModelFact",
    "Topology",
    "render_image_flow",
    "render_sources",
    "write_diagrams",
]
