"""Background removal for icons on a plain background, with numpy and Pillow only (no model weights).

A game icon is usually rendered "centered on a plain background", so the background is the colour
of the image's border. The method: estimate that colour and its noise from the border, mark pixels
within a tolerance of it, keep only those connected to the border (a flood fill, so a patch of the
same colour inside the subject stays opaque), then give the fringe a soft alpha ramp and remove the
background colour that was blended into it. Works in a few vectorised passes: the flood fill
propagates along whole row and column runs at once, so it needs a handful of sweeps, not one per pixel.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from alfred.errors import UnprocessableError

Array = Any  # numpy arrays; numpy is imported only when a removal runs
_SNAP = 0.08


@dataclass(frozen=True, slots=True)
class BorderSettings:
    """Tuning of the border method (RGB distances on the 0-255 scale)."""

    tolerance: float = 24.0  # the least distance from the background colour that still counts as subject
    noise_factor: float = 2.5  # tolerance grows to this many times the border's median noise
    max_tolerance: float = 96.0  # …but never beyond this (it would start eating the subject)
    max_border_noise: float = 48.0  # a border noisier than this is a scene, not a plain background
    edge_px: int = 2  # width of the soft fringe around the subject


class BorderBackgroundRemover:
    """Makes the border-connected, border-coloured region of an image transparent."""

    name = "border"

    def __init__(self, settings: BorderSettings | None = None) -> None:
        self.settings = settings or BorderSettings()

    def remove(self, data: bytes) -> bytes:
        """PNG (or any Pillow-readable image) in, RGBA PNG out; raises ``UnprocessableError`` when the
        border is not a plain background."""
        import numpy as np
        from PIL import Image

        with Image.open(io.BytesIO(data)) as opened:
            rgba = np.asarray(opened.convert("RGBA"), dtype=np.float32)
        rgb, alpha_in = rgba[..., :3], rgba[..., 3] / 255.0
        background, noise, tolerance = self._estimate(rgb)
        distance = np.sqrt(((rgb - background) ** 2).sum(axis=-1))
        reached = _flood_from_border(distance <= tolerance)
        alpha = self._alpha(distance, reached, noise)
        colour = _unblend(rgb, alpha, background)
        out = np.dstack([colour, alpha * alpha_in * 255.0])
        image = Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "RGBA")
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()

    def _estimate(self, rgb: Array) -> tuple[Array, float, float]:
        """The background colour, the border's noise (median distance from it) and the tolerance."""
        import numpy as np

        height, width = rgb.shape[:2]
        band = max(1, min(height, width) // 64)
        border = np.concatenate(
            [
                rgb[:band].reshape(-1, 3),
                rgb[-band:].reshape(-1, 3),
                rgb[:, :band].reshape(-1, 3),
                rgb[:, -band:].reshape(-1, 3),
            ]
        )
        background = np.median(border, axis=0)
        noise = float(np.median(np.sqrt(((border - background) ** 2).sum(axis=-1))))
        s = self.settings
        if noise > s.max_border_noise:
            raise UnprocessableError(
                "background: the image has no plain background to remove "
                f"(border noise {noise:.0f} > {s.max_border_noise:.0f})",
                param="background",
            )
        return background, noise, min(max(s.tolerance, s.noise_factor * noise), s.max_tolerance)

    def _alpha(self, distance: Array, reached: Array, noise: float) -> Array:
        import numpy as np

        # Fringe pixels next to the removed region are blends of background and subject. How much
        # subject one holds is its distance from the background relative to the subject's own
        # colour, read from the least distinct solid subject pixel nearby (erring towards opaque
        # where the subject has several colours). A fringe pixel with no solid neighbour stays opaque.
        near = _dilate(reached, self.settings.edge_px) & ~reached
        solid = ~reached & ~near
        nearest = -_max_filter(np.where(solid, -distance, -np.inf), self.settings.edge_px + 1)
        reference = np.where(np.isfinite(nearest), nearest, distance)
        share = (distance - noise) / np.maximum(reference - noise, 1e-6)
        # Noise makes a solid pixel read a little short of its neighbour: the top and bottom
        # of the ramp snap to opaque and clear.
        ramp = np.clip((share - _SNAP) / (1.0 - 2 * _SNAP), 0.0, 1.0)
        alpha = np.ones(distance.shape, dtype=np.float32)
        alpha[reached] = 0.0
        alpha[near] = ramp[near]
        return alpha


def _flood_from_border(candidate: Array) -> Array:
    """The part of ``candidate`` (a boolean mask) connected to the image border (4-neighbourhood)."""
    import numpy as np

    reached = np.zeros_like(candidate)
    reached[0], reached[-1], reached[:, 0], reached[:, -1] = (
        candidate[0],
        candidate[-1],
        candidate[:, 0],
        candidate[:, -1],
    )
    while True:
        grown = _spread_along_runs(reached, candidate)
        grown = _spread_along_runs(grown.T, candidate.T).T
        if np.array_equal(grown, reached):
            return reached
        reached = grown


def _spread_along_runs(reached: Array, candidate: Array) -> Array:
    """Each horizontal run of candidate pixels that holds a reached pixel becomes wholly reached."""
    import numpy as np

    height, width = candidate.shape
    flat = np.ascontiguousarray(candidate).ravel()
    starts = np.empty(flat.shape, dtype=bool)
    starts[0] = True
    starts[1:] = flat[1:] != flat[:-1]
    starts[::width] = True  # runs never continue onto the next row
    run = np.cumsum(starts) - 1
    hit = np.bincount(run, weights=np.ascontiguousarray(reached).ravel(), minlength=int(run[-1]) + 1) > 0
    return (hit[run] & flat).reshape(height, width)


def _dilate(mask: Array, steps: int) -> Array:
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def _max_filter(values: Array, radius: int) -> Array:
    """The maximum over a (2·radius+1)² window around each pixel (edges clamp)."""
    import numpy as np

    out = values.copy()
    for axis in (0, 1):
        padded = np.pad(out, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        length = out.shape[axis]
        windows = [np.take(padded, np.arange(k, k + length), axis=axis) for k in range(2 * radius + 1)]
        out = np.maximum.reduce(windows)
    return out


def _unblend(rgb: Array, alpha: Array, background: Array) -> Array:
    """Take the background colour back out of semi-transparent pixels (no halo on other backdrops)."""
    import numpy as np

    a = alpha[..., None]
    safe = np.where(a > 0, a, 1.0)
    colour = np.where(a > 0, (rgb - (1.0 - a) * background) / safe, 0.0)
    return np.clip(colour, 0.0, 255.0)
