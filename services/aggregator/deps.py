"""What the aggregator's routes get by typed dependency: its sessions, as every service's
(``shared.deps``). The aggregator keeps nothing else in ``app.state``."""

from __future__ import annotations

from shared.deps import Sessions

__all__ = ["Sessions"]
