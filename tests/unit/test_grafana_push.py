"""`rucnet grafana push` at the HTTP level, against a local stand-in for Grafana's API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from typer.testing import CliRunner

from rucnet.cli import app
from rucnet.embedded_broker import free_port
from rucnet.grafana.dashboards import FOLDER_UID, all_dashboards
from rucnet.grafana.provisioning import ENV_VARS

TOKEN = "glsa_test_token"
ENV = {name: f"value-of-{name.lower()}" for name in ENV_VARS}


@dataclass
class FakeGrafana:
    """Grafana's datasource, folder and dashboard endpoints, keeping what is sent, by uid."""

    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    datasources: dict[str, Any] = field(default_factory=dict)
    folders: dict[str, Any] = field(default_factory=dict)
    dashboards: dict[str, Any] = field(default_factory=dict)
    auth: set[str] = field(default_factory=set)

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        parts = path.strip("/").split("/")
        store, key = self._route(parts, body)
        if method == "GET":
            return (200, store[key]) if key in store else (404, {"message": "not found"})
        if method in ("POST", "PUT"):
            store[key] = body
            return 200, {"status": "success", "uid": key, "id": len(store), "version": 1}
        return 405, {"message": "method not allowed"}

    def _route(self, parts: list[str], body: Any) -> tuple[dict[str, Any], str]:
        if parts[:2] == ["api", "datasources"]:
            return self.datasources, parts[3] if len(parts) > 3 else body["uid"]
        if parts[:2] == ["api", "folders"]:
            return self.folders, parts[2] if len(parts) > 2 else body["uid"]
        if parts[:3] == ["api", "dashboards", "uid"]:
            return self.dashboards, parts[3]
        if parts[:3] == ["api", "dashboards", "db"]:
            return self.dashboards, body["dashboard"]["uid"]
        raise AssertionError(f"unexpected path {'/'.join(parts)}")

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _ in self.requests if m != "GET"]


@pytest.fixture
def grafana() -> Iterator[tuple[FakeGrafana, str]]:
    fake = FakeGrafana()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            fake.auth.add(self.headers.get("Authorization", ""))
            status, payload = fake.handle(self.command, self.path, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _push(url: str, *args: str, **env: str) -> Any:
    result = CliRunner().invoke(
        app, ["grafana", "push", *args], env={"GRAFANA_URL": url, "GRAFANA_TOKEN": TOKEN, **ENV, **env}
    )
    assert result.exit_code == 0, result.output
    return result


def test_a_first_push_creates_datasources_folder_and_dashboards(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    result = _push(url)
    boards = all_dashboards()
    assert fake.writes() == [
        ("POST", "/api/datasources"),
        ("POST", "/api/datasources"),
        ("POST", "/api/folders"),
        *[("POST", "/api/dashboards/db")] * len(boards),
    ]
    assert fake.auth == {f"Bearer {TOKEN}"}
    pg = fake.datasources["rucnet-postgres"]
    assert pg["url"] == ENV["RUCNET_GRAFANA_DB_HOST"]
    assert pg["jsonData"]["database"] == ENV["RUCNET_GRAFANA_DB_NAME"]
    assert pg["secureJsonData"]["password"] == ENV["RUCNET_GRAFANA_DB_PASSWORD"]
    assert fake.folders[FOLDER_UID]["title"] == "RUC-nätverket"
    sent = fake.dashboards["rucnet-nationell"]
    assert sent["folderUid"] == FOLDER_UID
    assert sent["overwrite"] is True
    assert sent["dashboard"]["title"] == "Nationell översikt"
    assert set(fake.dashboards) == {b["uid"] for b in boards.values()}
    assert "created dashboard rucnet-drift (Drift)" in result.output


def test_a_second_push_updates_by_uid_and_creates_nothing(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    _push(url)
    fake.requests.clear()
    result = _push(url)
    writes = fake.writes()
    assert ("PUT", "/api/datasources/uid/rucnet-postgres") in writes
    assert ("PUT", "/api/datasources/uid/rucnet-prometheus") in writes
    assert ("POST", "/api/datasources") not in writes
    assert not any(p.startswith("/api/folders") for _, p in writes)  # same title: left alone
    assert writes.count(("POST", "/api/dashboards/db")) == len(all_dashboards())
    assert len(fake.dashboards) == len(all_dashboards())
    assert "updated dashboard rucnet-nationell" in result.output
    assert "unchanged folder rucnet" in result.output


def test_a_dry_run_only_looks(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    result = _push(url, "--dry-run")
    assert fake.writes() == []
    assert {m for m, _, _ in fake.requests} == {"GET"}
    assert "would create datasource rucnet-postgres" in result.output
    assert "would create dashboard rucnet-klassificering (Klassificering)" in result.output

    _push(url)
    fake.requests.clear()
    result = _push(url, "--dry-run")
    assert fake.writes() == []
    assert "would update dashboard rucnet-regioner (Regioner)" in result.output


def test_a_push_without_the_datasource_environment_changes_nothing(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    result = CliRunner().invoke(app, ["grafana", "push"], env={"GRAFANA_URL": url, "GRAFANA_TOKEN": TOKEN, **dict.fromkeys(ENV_VARS, "")})  # fmt: skip
    assert result.exit_code == 2
    assert "RUCNET_GRAFANA_DB_PASSWORD" in result.output
    assert fake.requests == []


def test_a_push_needs_url_and_token() -> None:
    result = CliRunner().invoke(app, ["grafana", "push"], env={"GRAFANA_URL": "", "GRAFANA_TOKEN": ""})
    assert result.exit_code == 2
