"""Checks every page state gets in the browser tests: axe-core's WCAG 2.2 AA rules, no sideways
scrolling, and a screenshot kept under test-artifacts/ (ignored by git)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
AXE_VERSION = "4.11.0"  # pinned; installed by `make browser-deps` or on first use
AXE_JS = ROOT / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
ARTIFACTS = ROOT / "test-artifacts" / "pages"
WIDTHS = (390, 1280)


def axe_source() -> str:
    if not AXE_JS.exists():
        done = subprocess.run(
            ["npm", "install", "--silent", "--prefix", str(AXE_JS.parents[2]), f"axe-core@{AXE_VERSION}"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if done.returncode != 0 or not AXE_JS.exists():
            pytest.skip(f"axe-core could not be installed from npm: {done.stderr[-500:]}")
    return AXE_JS.read_text(encoding="utf-8")


def check_page(page: Any, name: str, axe: str) -> None:
    """0 axe violations (WCAG 2.2 AA), nothing wider than the viewport, and a screenshot."""
    width = page.viewport_size["width"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} at {width} px scrolls sideways by {overflow} px"
    # the page's CSP allows no scripts of its own; axe is injected through the DevTools protocol
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe)
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_22_AA,
    )
    violations = [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"][:5]]}
        for v in result["violations"]
    ]
    assert violations == [], f"{name} at {width} px: {json.dumps(violations, ensure_ascii=False)}"


# Every visible element: its box must lie within the viewport, and its content within its box (a
# cell whose text is wider than the cell, or a region that scrolls sideways, counts as cut). Boxes
# put off-screen or shrunk to a pixel on purpose (the skip link, visually hidden text) are left out.
_BOXES_OUTSIDE = """() => {
  const width = document.documentElement.clientWidth, found = [];
  const clipped = el => {
    for (let up = el; up; up = up.parentElement) {
      const style = getComputedStyle(up);
      if (style.clip !== 'auto' && style.clip !== '' || style.clipPath !== 'none') return true;
    }
    return false;
  };
  for (const el of document.querySelectorAll('body *')) {
    const style = getComputedStyle(el), box = el.getBoundingClientRect();
    if (style.display === 'none' || style.visibility === 'hidden' || box.width <= 1 || box.height <= 1) continue;
    if (clipped(el)) continue;
    if (style.position === 'absolute' && box.right <= 0) continue;
    const cut = el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1;
    if (box.left < -0.5 || box.right > width + 0.5 || cut) {
      const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : '');
      found.push(`${name} [${Math.round(box.left)}, ${Math.round(box.right)}] content ${el.scrollWidth}/${el.clientWidth}`);
    }
  }
  return found;
}"""


def assert_boxes_fit(page: Any, name: str) -> None:
    """No element outside the viewport's width or cut inside its own box (not only the page's
    scroll width: a table in a scrolling region leaves that at 0 while its columns are hidden)."""
    outside = page.evaluate(_BOXES_OUTSIDE)
    assert outside == [], f"{name} at {page.viewport_size['width']} px: {outside[:10]}"


@contextmanager
def reloads_held(page: Any) -> Iterator[None]:
    """The page as served, but its HTTP ``Refresh`` not obeyed: a page that reloads itself every
    2 s can be checked (axe, boxes, screenshot) without being replaced halfway through."""

    def strip(route: Any) -> None:
        response = route.fetch()
        headers = {k: v for k, v in response.headers.items() if k.lower() != "refresh"}
        route.fulfill(response=response, headers=headers)

    page.route("**/rapporter/**", strip)
    try:
        page.reload()
        yield
    finally:
        page.unroute("**/rapporter/**", strip)


def wait_until_settled(page: Any) -> None:
    """A receipt reloads itself until its report is classified and counted: wait for that."""
    page.locator("#steg-raknad", has_text="Räknad: ja").wait_for(timeout=90_000)
    page.locator("#uppdateras").wait_for(state="detached", timeout=90_000)
