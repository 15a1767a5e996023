"""Background removal with rembg (a U²-Net-family segmentation model on onnxruntime).

An install extra (``alfred-gateway[images-bg]``). rembg downloads its model weights on first use
(into ``$U2NET_HOME``, default ``~/.u2net``); ``weights_present`` tells whether that download has
already happened, so ``auto`` can avoid a first request that hangs on an unreachable network.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from alfred.errors import ServiceUnavailableError


def _sessions_class(model: str) -> Any | None:
    factory = importlib.import_module("rembg.sessions")
    return next((cls for cls in factory.sessions_class if cls.name() == model), None)


def rembg_installed() -> bool:
    try:
        importlib.import_module("rembg")
    except ImportError:
        return False
    return True


def weights_present(model: str) -> bool:
    """Whether rembg is installed and the model's weights are already on disk (no download needed)."""
    if not rembg_installed():
        return False
    session_class = _sessions_class(model)
    if session_class is None:
        raise ValueError(f"images.background_model: rembg has no model {model!r}")
    return session_class.resolve_existing(f"{session_class.name()}.onnx") is not None


class RembgBackgroundRemover:
    """Segments the subject with a rembg model and returns an RGBA PNG."""

    name = "rembg"

    def __init__(self, model: str = "u2net") -> None:
        self.model = model
        self._session: Any = None
        self._lock = threading.Lock()  # one session, created once, from whichever thread asks first

    def _session_now(self) -> Any:
        with self._lock:
            if self._session is None:
                try:
                    self._session = importlib.import_module("rembg").new_session(self.model)
                except Exception as exc:  # offline (no weights to download), or a broken weights file
                    raise ServiceUnavailableError(
                        f"background removal: rembg cannot load its model {self.model!r} ({exc}); "
                        "put its weights in $U2NET_HOME or set images.background_removal: border",
                        retryable=False,
                    ) from exc
            return self._session

    def remove(self, data: bytes) -> bytes:
        rembg = importlib.import_module("rembg")
        result = rembg.remove(data, session=self._session_now(), force_return_bytes=True)
        assert isinstance(result, bytes)
        return result
