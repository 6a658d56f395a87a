"""tests/deploy: the compose deployment as ops run it (`make deploy-test`, deploy/test/run.sh).

Collected only with RUCNET_DEPLOY_TEST set (tests/conftest.py). Prints each phase's time at the end.
"""

from __future__ import annotations

import pytest

from tests.deploy.deployment import TIMINGS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.section("deployment phases")
        for label, seconds in TIMINGS:
            terminalreporter.write_line(f"{seconds:7.1f} s  {label}")
