"""XLSX bombs against a real intake (`rucnet intake`, uvicorn, SQLite, no broker needed): each
refused how fast, the intake's memory before and at its peak, and meanwhile another user's small
upload. Issue 21's "a crafted XLSX bomb is refused within 10 s with intake growing < 100 MB".

    .venv/bin/python bench/bench_upload_bomb.py

Prints, never asserts.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx
from common import figure, run

from rucnet.embedded_broker import free_port
from rucnet.migrate import upgrade
from services.intake.sheets import HEADERS
from services.intake.upload import csv_template
from services.intake.users import create_user
from shared.db import create_engine, session_factory

PASSWORD = "ett-långt-lösenord"
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SST = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def bomb(part: str, wrapper: str, body: bytes) -> bytes:
    """The template with ``part`` holding ``body``, linked from the workbook's relationships."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(HEADERS))
    raw = io.BytesIO()
    book.save(raw)
    source, out = zipfile.ZipFile(raw), io.BytesIO()
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><{wrapper} xmlns="{MAIN}">'.encode()
        + body
        + f"</{wrapper}>".encode()
    )
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == part:
                data = xml
            elif info.filename == "xl/_rels/workbook.xml.rels" and part not in source.namelist():
                data = data.replace(
                    b"</Relationships>",
                    f'<Relationship Id="rIdX" Type="{SST}" Target="/{part}"/></Relationships>'.encode(),
                )
            target.writestr(info, data)
        if part not in source.namelist():
            target.writestr(part, xml)
    return out.getvalue()


def rss_mb(pid: int, field: str) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", status, re.M)
    return int(found.group(1)) / 1024 if found else float("nan")


async def browser(url: str, email: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=url, timeout=120)
    page = await client.get("/logga-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    await client.post("/logga-in", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)})
    return client


async def upload(client: httpx.AsyncClient, name: str, content: bytes) -> tuple[int, float, str]:
    page = await client.get("/uppladdning")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    started = time.perf_counter()
    response = await client.post(
        "/uppladdning",
        data={"csrf_token": token.group(1)},
        files={"fil": (name, content, "application/octet-stream")},
    )
    reason = re.search(r'role="alert"><h2>[^<]*</h2><p>([^<]*)', response.text)
    return response.status_code, time.perf_counter() - started, reason.group(1) if reason else ""


async def main() -> None:
    bombs = {
        "3 M shared strings": bomb("xl/texts.xml", "sst", b"<si><t>x</t></si>" * 3_000_000),
        "1.4 M shared strings (under the byte budget)": bomb(
            "xl/texts.xml", "sst", b"<si><t>x</t></si>" * 1_400_000
        ),
        "700 k styles": bomb(
            "xl/styles.xml", "styleSheet", b"<cellXfs>" + b"<xf/>" * 700_000 + b"</cellXfs>"
        ),
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = f"sqlite+aiosqlite:///{work / 'rucnet.db'}"
        await asyncio.to_thread(upgrade, db)
        engine = create_engine(db)
        async with session_factory(engine).begin() as session:
            await create_user(session, "anna@gu.se", PASSWORD, "ruc", "gu")
            await create_user(session, "bo@gu.se", PASSWORD, "ruc", "gu")
        await engine.dispose()
        port = free_port()
        env = dict(os.environ) | {
            "RUCNET_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
            "RUCNET_DATABASE_URL": db,
            "RUCNET_DATA_DIR": str(work),
            "RUCNET_INTAKE_PORT": str(port),
            "RUCNET_KAFKA_IDEMPOTENCE": "false",
            "RUCNET_AGGREGATOR_URL": "http://127.0.0.1:9",
        }
        process = subprocess.Popen([sys.executable, "-m", "rucnet", "intake"], env=env)  # noqa: ASYNC220
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:  # noqa: ASYNC210
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.2)
            anna, bo = await browser(url, "anna@gu.se"), await browser(url, "bo@gu.se")
            await upload(bo, "warm.csv", csv_template())
            for name, content in bombs.items():
                before, peak_before = rss_mb(process.pid, "VmRSS"), rss_mb(process.pid, "VmHWM")
                hostile = asyncio.create_task(upload(anna, "bomb.xlsx", content))
                await asyncio.sleep(0.05)
                small = await upload(bo, "liten.csv", csv_template())
                code, seconds, reason = await hostile
                print(f"{name}: {len(content) / 1000:.0f} KB → {code} {reason[:70]!r}")
                figure("  refused after", seconds, "s", goal="< 10 s")
                figure("  intake RSS before", before, "MB")
                figure("  intake peak RSS before (VmHWM)", peak_before, "MB")
                figure(
                    "  intake peak RSS so far (VmHWM)",
                    rss_mb(process.pid, "VmHWM"),
                    "MB",
                    goal=f"< {before + 100:.0f} MB",
                )
                figure(f"  another user's small upload meanwhile ({small[0]})", small[1], "s")
            await anna.aclose()
            await bo.aclose()
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    run(main())
