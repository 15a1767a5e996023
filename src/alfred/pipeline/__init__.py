"""The request pipeline: the Call, the stage protocol and the ordered chain."""

from alfred.pipeline.call import Call, ChatResult, Identity, Result
from alfred.pipeline.pipeline import Pipeline
from alfred.pipeline.stage import Next, Stage

__all__ = ["Call", "ChatResult", "Identity", "Next", "Pipeline", "Result", "Stage"]
