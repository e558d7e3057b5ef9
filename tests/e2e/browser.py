"""Headless Debian Chromium driven by Playwright, for the page tests.

Playwright's Python package brings its own node driver; the browser is the
system's ``/usr/bin/chromium`` (``make setup`` installs Debian's chromium),
never one downloaded by ``playwright install``.  The flags are those Chromium
needs as root on a machine without a display or a network.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def unavailable_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing; `make setup` installs Debian's chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing; `make setup` installs the dev extra"
    return None


@dataclass
class PageLog:
    """What a page did: console errors, uncaught exceptions, requested URLs."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@contextlib.contextmanager
def browser_page(tmp_path: Path) -> Iterator[tuple[Any, PageLog]]:
    """A fresh headless Chromium page (own profile folder) and its log."""
    from playwright.sync_api import sync_playwright

    profile = tmp_path / "chromium-profile"
    log = PageLog()
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=list(FLAGS),
            viewport={"width": 1400, "height": 900},
        )
        try:
            page = context.new_page()
            page.on(
                "console",
                lambda m: log.errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda exc: log.errors.append(str(exc)))
            page.on("request", lambda r: log.requests.append(r.url))
            yield page, log
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def image_widths(page: Any) -> dict[str, int]:
    """{src: naturalWidth} of every image of the page once all have settled."""
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    pairs = page.eval_on_selector_all(
        "img", "els => els.map(e => [e.getAttribute('src'), e.naturalWidth])"
    )
    return {str(src): int(width) for src, width in pairs}


def screenshot_spread(png: bytes) -> float:
    """Standard deviation of a screenshot's grey levels (0 for a blank page)."""
    from PIL import Image

    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    return float(grey.std())


_FOLDER = 'li > a:has(svg path[d^="M2 6a2 2 0 012-2h5l2 2h5"]) span'


def report_images(page: Any, url: str) -> dict[str, int]:
    """Open every result of a Snakemake report; {file name: naturalWidth} shown.

    Snakemake's report is one HTML file: a React app whose results (embedded
    as data: URIs) appear when their eye button is clicked, inside category
    and subcategory folders.  Walks all of them.
    """
    shown: dict[str, int] = {}

    def open_folders(path: list[str]) -> None:
        page.goto(url)
        for name in path:
            exact = re.compile(f"^{re.escape(name)}$")
            page.locator(_FOLDER, has_text=exact).first.click()

    def visit(path: list[str]) -> None:
        open_folders(path)
        eyes = page.locator('a[iconname="eye"]')
        if eyes.count() == 0:
            for sub in page.locator(_FOLDER).all_inner_texts():
                visit([*path, sub])
            return
        for i in range(eyes.count()):
            eyes.nth(i).click()
            for src, width in image_widths(page).items():
                match = re.search(r"filename=([^;]+);", src)
                if match:
                    shown[match.group(1)] = width

    page.goto(url)
    for category in page.locator(_FOLDER).all_inner_texts():
        visit([category])
    return shown
