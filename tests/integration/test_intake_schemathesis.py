"""schemathesis against the checked-in OpenAPI document: over a thousand generated requests, no 5xx.

The intake service runs as users run it (`rucnet intake`) on the real broker; the schema is the file
in docs/, so the document and the service are checked against each other.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core import NotSet

from rucnet.embedded_broker import free_port
from services.intake.openapi import DOC
from tests.integration.conftest import token

pytestmark = pytest.mark.integration
EXAMPLES_PER_OPERATION = 220
MIN_CASES = 1_000


@pytest.fixture
def intake_url(kafka_bootstrap: str, sqlite_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ) | {
        "RUCNET_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "RUCNET_DATABASE_URL": sqlite_url,
        "RUCNET_DATA_DIR": str(tmp_path),
        "RUCNET_INTAKE_PORT": str(port),
        "RUCNET_KAFKA_IDEMPOTENCE": "false",
        "RUCNET_PSEUDONYM_SECRET": "schemathesis",
        "RUCNET_RATE_LIMIT_PER_MINUTE": "1000000",
        "RUCNET_AGGREGATOR_URL": "http://127.0.0.1:9",
    }
    log = tmp_path / "intake.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "rucnet", "intake"], env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        server_errors = [line for line in log.read_text().splitlines() if "Traceback" in line]
        assert not server_errors, log.read_text()[-5000:]


def test_generated_requests_never_get_a_5xx(intake_url: str, sqlite_url: str) -> None:
    admin = asyncio.run(token(sqlite_url, "admin"))
    schema = schemathesis.openapi.from_path(str(DOC))
    seen: Counter[str] = Counter()
    failures: list[str] = []
    client = httpx.Client(base_url=intake_url, timeout=15)
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            # schemathesis' own requests transport trips over this urllib3; httpx sends the same case.
            body = {} if isinstance(case.body, NotSet) else {"json": case.body}
            response = client.request(
                case.method,
                case.formatted_path,
                params=case.query or None,
                headers={**(case.headers or {}), **admin},
                **body,
            )
            seen[case.operation.label] += 1
            if response.status_code >= 500:
                failures.append(f"{case.operation.label}: {response.status_code} {response.text[:300]}")

        check()
    client.close()
    assert not failures, failures[:5]
    print(f"schemathesis: {sum(seen.values())} cases, {dict(seen)}")
    assert sum(seen.values()) >= MIN_CASES, seen
