"""Push the datasources, the folder and the dashboards to a running Grafana, by uid.

Idempotent: each object is looked up by its fixed uid and created when missing, updated when
present. A dry run only looks (GET requests) and says what it would do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

from grafana_client.client import GrafanaClientError

from rucnet.grafana.dashboards import FOLDER_TITLE, FOLDER_UID, all_dashboards
from rucnet.grafana.panels import Json
from rucnet.grafana.provisioning import ENV_VARS, datasources, expand_env

Verb = Literal["create", "update", "unchanged"]
Grafana = Any  # grafana_client.GrafanaApi, which has no type hints


@dataclass(frozen=True)
class Action:
    kind: Literal["datasource", "folder", "dashboard"]
    uid: str
    title: str
    verb: Verb

    def describe(self, dry_run: bool) -> str:
        tense = {"create": "would create", "update": "would update", "unchanged": "would leave"}
        done = {"create": "created", "update": "updated", "unchanged": "unchanged"}
        verb = tense[self.verb] if dry_run else done[self.verb]
        return f"{verb} {self.kind} {self.uid} ({self.title})"


class MissingEnvironment(ValueError):
    pass


def _exists(fetch: Callable[[str], Any], uid: str) -> Any | None:
    try:
        return fetch(uid)
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise


def resolved_datasources(env: dict[str, str] | None = None) -> list[Json]:
    """The provisioned datasources with ``$VAR`` taken from the environment; all must be set."""
    import os

    environ = dict(os.environ) if env is None else env
    missing = [name for name in ENV_VARS if not environ.get(name)]
    if missing:
        raise MissingEnvironment(f"set {', '.join(missing)} (the same values Grafana's provisioning reads)")
    resolved: list[Json] = expand_env(datasources(), environ)
    return resolved


def push_datasources(api: Grafana, sources: list[Json], dry_run: bool) -> list[Action]:
    actions = []
    for source in sources:
        current = _exists(api.datasource.get_datasource_by_uid, source["uid"])
        verb: Verb = "update" if current else "create"
        if not dry_run:
            if current:
                api.datasource.update_datasource_by_uid(source["uid"], source)
            else:
                api.datasource.create_datasource(source)
        actions.append(Action("datasource", source["uid"], source["name"], verb))
    return actions


def push_folder(api: Grafana, dry_run: bool) -> Action:
    current = _exists(api.folder.get_folder, FOLDER_UID)
    verb: Verb = (
        "create" if current is None else "unchanged" if current.get("title") == FOLDER_TITLE else "update"
    )
    if not dry_run:
        if verb == "create":
            api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID)
        elif verb == "update":
            api.folder.update_folder(FOLDER_UID, title=FOLDER_TITLE, overwrite=True)
    return Action("folder", FOLDER_UID, FOLDER_TITLE, verb)


def push_dashboards(api: Grafana, boards: list[Json], dry_run: bool) -> list[Action]:
    actions = []
    for board in boards:
        current = _exists(api.dashboard.get_dashboard, board["uid"])
        verb: Verb = "update" if current else "create"
        if not dry_run:
            api.dashboard.update_dashboard(
                {
                    "dashboard": board | {"id": None},
                    "folderUid": FOLDER_UID,
                    "overwrite": True,
                    "message": "rucnet grafana push",
                }
            )
        actions.append(Action("dashboard", board["uid"], board["title"], verb))
    return actions


def push(api: Grafana, dry_run: bool = False, env: dict[str, str] | None = None) -> list[Action]:
    """Datasources first (dashboards refer to them), then the folder, then the dashboards."""
    sources = datasources() if dry_run else resolved_datasources(env)
    actions = push_datasources(api, sources, dry_run)
    actions.append(push_folder(api, dry_run))
    actions += push_dashboards(api, list(all_dashboards().values()), dry_run)
    return actions


def connect(url: str, token: str, timeout: float = 10.0) -> Grafana:
    from grafana_client import GrafanaApi

    return cast(Grafana, GrafanaApi.from_url(url, credential=token, timeout=timeout))
