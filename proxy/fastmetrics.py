"""Hot-path recording for aioprometheus collectors.

aioprometheus serialises the label dict to JSON on every ``inc``/``observe`` (about 3–8 µs
each). On the request path we instead count into plain dicts keyed by label-value tuples
and copy the totals into the aioprometheus collectors when ``/metrics`` is scraped, so
rendering and the exposition format stay aioprometheus's own.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from aioprometheus import Counter, Histogram, histogram

__all__ = ["FastCounter", "FastHistogram"]


class FastCounter:
    """Counts per label tuple; ``scale`` multiplies at scrape time (e.g. nano-dollars
    counted as integers, exposed in dollars)."""

    __slots__ = ("_collector", "_counts", "_names", "_scale")

    def __init__(self, collector: Counter, names: Sequence[str], scale: float = 1.0) -> None:
        self._collector = collector
        self._names = tuple(names)
        self._scale = scale
        self._counts: dict[tuple[str, ...], float] = {}

    def add(self, key: tuple[str, ...], value: float = 1) -> None:
        counts = self._counts
        counts[key] = counts.get(key, 0) + value

    def sync(self) -> None:
        names, collector, scale = self._names, self._collector, self._scale
        for key, value in list(self._counts.items()):
            collector.set(dict(zip(names, key, strict=True)), value * scale)


class _Aggregate:
    __slots__ = ("count", "counts", "sum")

    def __init__(self, size: int) -> None:
        self.counts = [0] * size
        self.count = 0
        self.sum = 0.0


class FastHistogram:
    __slots__ = ("_aggregates", "_bounds", "_collector", "_names")

    def __init__(self, collector: Histogram, names: Sequence[str]) -> None:
        self._collector = collector
        self._names = tuple(names)
        self._bounds = [float(b) for b in collector.upper_bounds]
        if self._bounds[-1] != float("inf"):
            self._bounds.append(float("inf"))
        self._aggregates: dict[tuple[str, ...], _Aggregate] = {}

    def observe(self, key: tuple[str, ...], value: float) -> None:
        agg = self._aggregates.get(key)
        if agg is None:
            agg = self._aggregates[key] = _Aggregate(len(self._bounds))
        agg.counts[bisect_left(self._bounds, value)] += 1
        agg.count += 1
        agg.sum += value

    def sync(self) -> None:
        names, collector, bounds = self._names, self._collector, self._bounds
        for key, agg in list(self._aggregates.items()):
            labels = dict(zip(names, key, strict=True))
            try:
                target = collector.get_value(labels)
            except KeyError:
                collector.observe(labels, 0.0)  # creates the aggregator; overwritten below
                target = collector.get_value(labels)
            assert isinstance(target, histogram.Histogram)
            running = 0
            for bound, count in zip(bounds, agg.counts, strict=True):
                running += count
                target.buckets[bound] = running
            target.observations = agg.count
            target.sum = agg.sum
