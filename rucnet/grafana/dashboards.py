"""The five rucnet dashboards: what Skolverket's analysts and ops look at, in Swedish.

Every SQL panel reads only ``reporting.*`` views (what the ``rucnet_grafana`` role may read) and
returns a ``Senast uppdaterad`` column: the last time the read model changed. Prometheus panels
are time series (their time axis is their freshness) or carry the last scrape time.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from rucnet.grafana.board import to_json
from rucnet.grafana.followup import classification, reporting
from rucnet.grafana.national import national, regions
from rucnet.grafana.operations import operations
from rucnet.grafana.panels import Json
from shared.reference import ReferenceData, load_reference

FOLDER_UID = "rucnet"
FOLDER_TITLE = "RUC-nätverket"


def built_dashboards(reference: ReferenceData | None = None) -> dict[str, Dashboard]:
    """File name (without .json) → the SDK's dashboard builder, in the order they are listed."""
    reference = reference or load_reference()
    return {
        "01-nationell-oversikt": national(),
        "02-regioner": regions(reference),
        "03-rapportering": reporting(),
        "04-klassificering": classification(),
        "05-drift": operations(),
    }


def all_dashboards(reference: ReferenceData | None = None) -> dict[str, Json]:
    """File name (without .json) → dashboard JSON as Grafana stores it."""
    return {name: to_json(board) for name, board in built_dashboards(reference).items()}
