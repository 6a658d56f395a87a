"""schemathesis against every service's OpenAPI document: generated requests, never a 5xx.

Each service runs as users run it (`rucnet intake|classifier|aggregator`) on the real broker. Intake
is checked against the document in docs/ (so the document and the service are checked against each
other), the classifier and the aggregator against the one they serve. The suite sends a few hundred
cases per service; RUCNET_SCHEMATHESIS_CASES=1000 (or more) gives the issue's full run per service.
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
MIN_CASES = int(os.environ.get("RUCNET_SCHEMATHESIS_CASES", "300"))


@pytest.fixture(params=["intake", "classifier", "aggregator"])
def service(
    request: pytest.FixtureRequest, kafka_bootstrap: str, sqlite_url: str, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    name: str = request.param
    port = free_port()
    env = dict(os.environ) | {
        "RUCNET_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "RUCNET_DATABASE_URL": sqlite_url,
        "RUCNET_DATA_DIR": str(tmp_path),
        f"RUCNET_{name.upper()}_PORT": str(port),
        "RUCNET_KAFKA_IDEMPOTENCE": "false",
        "RUCNET_PSEUDONYM_SECRET": "schemathesis-secret-of-32-characters",
        "RUCNET_RATE_LIMIT_PER_MINUTE": "1000000",
        "RUCNET_AGGREGATOR_URL": "http://127.0.0.1:9",
        "RUCNET_SCORING_WORKERS": "0",
    }
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "rucnet", name], env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield name, url
    finally:
        process.terminate()
        process.wait(timeout=30)
        server_errors = [line for line in log.read_text().splitlines() if "Traceback" in line]
        assert not server_errors, log.read_text()[-5000:]


def test_generated_requests_never_get_a_5xx(service: tuple[str, str], sqlite_url: str) -> None:
    name, url = service
    admin = asyncio.run(token(sqlite_url, "admin"))
    schema = (
        schemathesis.openapi.from_path(str(DOC))
        if name == "intake"
        else schemathesis.openapi.from_url(f"{url}/openapi.json")
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    # twice the even share: operations without parameters (/healthz) are exhausted after one case
    per_operation = 2 * MIN_CASES // len(operations)
    seen: Counter[str] = Counter()
    failures: list[str] = []
    client = httpx.Client(base_url=url, timeout=15)
    for operation in operations:

        @settings(
            max_examples=per_operation,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            # httpx sends the case as schemathesis' own transport would (the CLI works too)
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
    print(f"schemathesis {name}: {sum(seen.values())} cases, {dict(seen)}")
    assert sum(seen.values()) >= MIN_CASES, seen
