"""Prometheus metrics of one app process: battles, votes, model errors and stream speed.

Each :class:`Metrics` has its own registry (no global state), so every process, and
every arena in a test, counts on its own: scrape each process's ``/metrics``. Labels
are model names and error kinds only, never anything that ties a battle to a model.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

TTFT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
TPS_BUCKETS = (1.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0)


class Metrics:
    """The arena's counters, histograms and gauge, in a registry of their own."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.battles = Counter("battles", "Battles started.", ["mode"], registry=r)
        self.votes = Counter("votes", "Votes recorded.", registry=r)
        self.model_errors = Counter(
            "model_errors", "Failed model answers, by kind.", ["model", "kind"], registry=r
        )
        self.ttft = Histogram(
            "time_to_first_token_seconds",
            "Seconds from a model call to its first text.",
            ["model"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.tokens_per_second = Histogram(
            "tokens_per_second",
            "Completion tokens per second after the first token.",
            ["model"],
            buckets=TPS_BUCKETS,
            registry=r,
        )
        self.streams_in_flight = Gauge(
            "streams_in_flight", "Model answers streaming now.", registry=r
        )

    def answered(self, model: str, ttft: float | None, seconds: float, tokens: int | None) -> None:
        """Record a complete answer: time to first token and the streaming speed."""
        if ttft is None:
            return
        self.ttft.labels(model=model).observe(ttft)
        if tokens and seconds > ttft:
            self.tokens_per_second.labels(model=model).observe(tokens / (seconds - ttft))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
