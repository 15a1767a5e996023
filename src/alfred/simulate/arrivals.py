"""From a load profile to a stream of requests: arrival times, what each asks for, and its cache key.

Arrivals are a Poisson process whose rate follows the profile minute by minute (the day curve, the
weekday factor, bursts). Each request is either new (a player's own prompt, or the weapon preset
with its own seed) or, with the profile's ``repeat_share``, a repeat of one of the ``hot_set`` most
recent distinct requests, a ``surface_variation`` share of them written differently (case, spacing,
field order), as players do. Cache keys come from the image pipeline's own canonicalisation
(``resolve_request`` and ``cache_key``), computed once per distinct wording and shared by every
policy, so whether a repeat hits the cache is decided by the real code.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from alfred.images.presets import PresetBook
from alfred.images.settings import ImageModelSettings
from alfred.images.spec import cache_key, resolve_request
from alfred.schema.images import ImageRequest
from alfred.simulate.parallel import run_tasks
from alfred.simulate.profiles import DayCurve, ImageLoad

_WEAPONS = ["sword", "greatsword", "dagger", "axe", "hammer", "mace", "spear", "halberd", "bow",
            "crossbow", "staff", "wand", "shield", "scythe"]  # fmt: skip
_ELEMENTS = ["none", "fire", "ice", "lightning", "poison", "holy", "shadow", "earth", "wind"]
_RARITIES = ["common", "uncommon", "rare", "epic", "legendary"]
_STYLES = ["painterly icon", "pixel art", "cel shaded", "realistic", "low poly"]
_MATERIALS = ["obsidian", "bone", "crystal", "bronze", "mithril", "driftwood", "jade", "meteorite"]
_DETAILS = ["glowing runes", "a cracked blade", "chains", "feathers", "a skull pommel", "vines"]
_VARIANTS = 4  # ways a repeat may be written
_KEYS_PER_PROCESS = 20_000  # fewer distinct wordings than this per process: computed in this one


def rate_at(curve: DayCurve, seconds: np.ndarray) -> np.ndarray:
    """Requests per hour at each instant (seconds since the start of day 0)."""
    hours = list(curve.points)
    rates = list(curve.points.values())
    # wrap around midnight: the last point continues into the next day's first
    xs = np.array([hours[-1] - 24, *hours, hours[0] + 24])
    ys = np.array([rates[-1], *rates, rates[0]])
    hour_of_day = (seconds / 3600.0) % 24
    weekday = (seconds // 86400).astype(np.int64) % 7
    per_hour: np.ndarray = np.interp(hour_of_day, xs, ys) * np.asarray(curve.weekdays)[weekday]
    return per_hour


def arrival_times(load: ImageLoad | DayCurve, days: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted arrival times (seconds) over ``days``, minute by minute."""
    curve = load if isinstance(load, DayCurve) else load.curve
    minutes = round(days * 1440)
    mids = np.arange(minutes) * 60.0 + 30.0
    per_hour = rate_at(curve, mids)
    if isinstance(load, ImageLoad):
        for burst in load.bursts:
            start = (burst.day * 24 + burst.start_hour) * 3600.0
            inside = (mids >= start) & (mids < start + burst.hours * 3600.0)
            per_hour = np.where(inside, per_hour * burst.multiplier + burst.extra_per_hour, per_hour)
    counts = rng.poisson(per_hour / 60.0)
    starts = np.repeat(np.arange(minutes) * 60.0, counts)
    return np.sort(starts + rng.uniform(0.0, 60.0, size=starts.size))


@dataclass(frozen=True, slots=True)
class _Distinct:
    """One distinct thing players ask for: a free prompt, or preset fields with a seed."""

    prompt: str | None
    fields: tuple[tuple[str, str], ...]
    seed: int | None


def _wording(item: _Distinct, variant: int, n: int, model: str) -> ImageRequest:
    """The request as a player writes it; every variant means the same thing once canonicalised."""
    if item.prompt is not None:
        text = item.prompt
        if variant == 1:
            text = text.title()
        elif variant == 2:
            text = "  " + text.replace(" ", "   ") + " "
        elif variant == 3:
            text = text.upper()
        return ImageRequest(prompt=text, model=model, n=n)
    fields = list(item.fields)
    if variant == 1:
        fields = [(k, v.upper()) for k, v in fields]
    elif variant == 2:
        fields = [(k, v.replace(" ", "_").title()) for k, v in fields]
    elif variant == 3:
        fields = list(reversed(fields))
    return ImageRequest(preset="weapon", preset_fields=dict(fields), seed=item.seed, model=model, n=n)


class ImageArrivals:
    """A request stream: arrival times, what each request asks for, images asked for, cache keys."""

    def __init__(
        self,
        model: ImageModelSettings,
        presets: PresetBook,
        times: list[float],
        items: list[_Distinct | ImageRequest],
        wordings: list[tuple[int, int]],
        n: list[int],
        *,
        tenant: str = "game",
        wait_s: float | None = None,
        jobs: int = 1,
    ) -> None:
        self.model = model
        self.tenant = tenant
        self.wait_s = wait_s
        self.times = times
        self.n = n
        self.wordings = wordings  # (distinct item, variant) per arrival
        self._items = items
        self.keys = self._keys(presets, jobs)

    @classmethod
    def of_requests(
        cls,
        model: ImageModelSettings,
        presets: PresetBook,
        times: list[float],
        requests: list[ImageRequest],
        *,
        tenant: str = "game",
        wait_s: float | None = None,
    ) -> ImageArrivals:
        """Given requests at given times (each its own wording; equal ones still share a cache key)."""
        items: list[_Distinct | ImageRequest] = list(requests)
        wordings = [(i, 0) for i in range(len(requests))]
        return cls(
            model, presets, times, items, wordings, [r.n for r in requests], tenant=tenant, wait_s=wait_s
        )

    def __len__(self) -> int:
        return len(self.times)

    def request(self, index: int) -> ImageRequest:
        """The request of arrival ``index`` as a player sends it."""
        item, variant = self.wordings[index]
        found = self._items[item]
        if isinstance(found, ImageRequest):
            return found
        return _wording(found, variant, self.n[index], self.model.name)

    def _keys(self, presets: PresetBook, jobs: int) -> list[str]:
        """Each arrival's cache key, canonicalising each distinct wording once (in ``jobs`` processes)."""
        wordings: dict[tuple[int, int, int], int] = {}  # (item, variant, n) → its place in ``first``
        first: list[int] = []  # the first arrival of each distinct wording
        places: list[int] = []
        for index, (item, variant) in enumerate(self.wordings):
            wording = (item, variant, self.n[index])
            place = wordings.get(wording)
            if place is None:
                place = wordings[wording] = len(first)
                first.append(index)
            places.append(place)

        def canonicalise(chunk: range, tick: Callable[[int], None]) -> list[str]:
            return [
                cache_key(self.tenant, resolve_request(self.request(first[i]), self.model, presets))
                for i in chunk
            ]

        jobs = max(1, min(jobs, len(first) // _KEYS_PER_PROCESS))  # a day's keys are not worth a fork
        size = max(1, -(-len(first) // jobs))  # ceiling: one chunk per process
        chunks = [range(start, min(start + size, len(first))) for start in range(0, len(first), size)]
        distinct = [key for keys in run_tasks(chunks, canonicalise, jobs=jobs) for key in keys]
        return [distinct[place] for place in places]

    @property
    def distinct(self) -> int:
        """Distinct things asked for (however they were worded)."""
        return len(set(self.keys))


def _new_item(load: ImageLoad, rng: random.Random, serial: int) -> _Distinct:
    if rng.random() < load.preset_share:
        fields = (
            ("weapon_type", rng.choice(_WEAPONS)),
            ("element", rng.choice(_ELEMENTS)),
            ("rarity", rng.choice(_RARITIES)),
            ("style", rng.choice(_STYLES)),
        )
        return _Distinct(None, fields, rng.randrange(2**32))
    prompt = (
        f"{rng.choice(_RARITIES)} {rng.choice(_MATERIALS)} {rng.choice(_WEAPONS)} with "
        f"{rng.choice(_DETAILS)}, {rng.choice(_STYLES)}, design {serial}"
    )
    return _Distinct(prompt, (), None)


def generate_arrivals(
    load: ImageLoad,
    days: float,
    model: ImageModelSettings,
    presets: PresetBook,
    seed: int,
    *,
    jobs: int = 1,
) -> ImageArrivals:
    """The profile's request stream over ``days``, reproducible from ``seed``; the cache keys are
    computed in up to ``jobs`` processes."""
    times: list[float] = arrival_times(load, days, np.random.default_rng(seed)).tolist()
    rng = random.Random(seed + 1)  # noqa: S311  # nosec B311 - reproducible load, not security
    counts = list(load.images_per_request)
    weights = list(load.images_per_request.values())
    n = rng.choices(counts, weights, k=len(times)) if len(counts) > 1 else [counts[0]] * len(times)
    items: list[_Distinct | ImageRequest] = []
    wordings: list[tuple[int, int]] = []
    for _ in times:
        if items and rng.random() < load.repeat_share:
            recent = min(len(items), load.hot_set)
            item = len(items) - 1 - int(rng.random() * recent)
            variant = 1 + rng.randrange(_VARIANTS - 1) if rng.random() < load.surface_variation else 0
        else:
            item, variant = len(items), 0
            items.append(_new_item(load, rng, item))
        wordings.append((item, variant))
    return ImageArrivals(
        model, presets, times, items, wordings, n, tenant=load.tenant, wait_s=load.wait_s, jobs=jobs
    )
