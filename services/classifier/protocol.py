"""The seam between the classifier and its model: what the service, the CLI and the evaluation use.

A new kind of model (another encoder, a second stage) implements this and a loader in registry.py;
nothing else in the service changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from services.classifier.rules import Scored

Items = Sequence[tuple[str, frozenset[str] | None]]


class NspScorer(Protocol):
    @property
    def version(self) -> str: ...

    @property
    def labels(self) -> tuple[str, ...]: ...

    def score(self, text: str, allowed: frozenset[str] | None = None) -> Scored:
        """Ranked areas (calibrated), the review flag, the prediction set and the deciding words."""
        ...

    def score_batch(self, items: Items) -> list[Scored]:
        """``score`` for many (text, allowed areas) pairs at once."""
        ...

    def score_many(self, texts: Sequence[str], allowed: frozenset[str] | None = None) -> list[Scored]:
        """``score`` without the reasons: the fast path for bulk use."""
        ...

    def save(self, directory: Path) -> None:
        """The fitted model into an existing directory (registry.py adds meta and examples)."""
        ...
