"""The intake API's OpenAPI document, as checked into docs/ (``python -m services.intake.openapi``)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi-intake.json"


def intake_schema() -> dict[str, Any]:
    from services.intake.app import create_app
    from services.intake.settings import IntakeSettings

    with tempfile.TemporaryDirectory() as tmp:
        settings = IntakeSettings(data_dir=Path(tmp), pseudonym_secret="schema-only-" + "x" * 32)
        schema: dict[str, Any] = create_app(settings).openapi()
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOC
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(intake_schema()), encoding="utf-8")
    print(f"wrote {target}")
