"""End-to-end QA: the demo run's figures, its QA page and its report in Chromium.

Shares the session's demo run (``run_a``).  The page and the report are opened
in headless Debian Chromium through Playwright: every image must load, the
console must stay free of errors, the QA page must request nothing outside
its own folder, and a screenshot must not be blank.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from benpipe.qa.core import Outcome
from benpipe.qa.product import draw_product_figures

from . import browser
from .demo import BIN, REPO, snakemake_command

pytestmark = [pytest.mark.slow, pytest.mark.postgis]


def products(run) -> list[str]:
    return sorted(
        p.name.removesuffix(".json")
        for p in (run.results / "qa" / "products").glob("*.json")
    )


def test_every_product_has_its_side_outputs_and_figures(run_a):
    names = sorted(
        p.name[: -len(".SAFE")] for p in (run_a.results / "l2a").glob("*.SAFE")
    )
    assert products(run_a) == names and len(names) == 4
    for name in names:
        for kind in ("rgb", "clc"):
            preview = run_a.results / "qa" / "previews" / f"{name}_{kind}.npz"
            assert 0 < preview.stat().st_size < 3_000_000, preview
        for figure in ("quicklook", "reference_map"):
            assert (
                run_a.results / "qa" / "products" / f"{name}_{figure}.png"
            ).is_file()


def test_patch_outcomes_agree_with_the_export_and_labelling_receipts(run_a):
    describe = {o: o.describe(unlabeled_max_fraction=0.25) for o in Outcome}
    kinds = set()
    for name in products(run_a):
        qa = json.loads(
            (run_a.results / "qa" / "products" / f"{name}.json").read_text()
        )
        export = json.loads(
            (run_a.results / "export" / "s2" / f"{name}.json").read_text()
        )
        labels = json.loads(
            (run_a.results / "db" / "receipts" / "labels" / f"{name}.json").read_text()
        )
        out = {o: qa["outcomes"][describe[o]] for o in Outcome}
        assert qa["patches"] == export["patches_on_grid"] == sum(out.values())
        assert out[Outcome.NODATA] == export["skipped"]["nodata"]
        assert qa["reference_maps"] == labels["reference_maps"]
        assert out[Outcome.KEPT] == labels["kept"]
        valid = labels["valid_patches"]
        if labels["fails_quality"]:
            kinds.add("fails quality")
            assert out[Outcome.FAILS_QUALITY] == valid
        elif not labels["has_clc"]:
            kinds.add("no CLC")
            assert out[Outcome.NO_CLC] == valid
        else:
            kinds.add("labelled")
            assert (
                out[Outcome.KEPT] + out[Outcome.UNLABELED] + out[Outcome.NO_CLC]
                == valid
            )
            assert out[Outcome.UNLABELED] > 0  # the demo world drops some
    assert kinds == {"fails quality", "no CLC", "labelled"}


def test_product_figures_redraw_byte_identical_from_the_side_outputs(run_a, tmp_path):
    qa = run_a.results / "qa"
    for name in products(run_a):
        draw_product_figures(
            rgb_preview=qa / "previews" / f"{name}_rgb.npz",
            clc_preview=qa / "previews" / f"{name}_clc.npz",
            export_manifest=run_a.results / "export" / "s2" / f"{name}.json",
            quicklook=tmp_path / "q.png",
            reference_map=tmp_path / "r.png",
        )
        assert (tmp_path / "q.png").read_bytes() == (
            qa / "products" / f"{name}_quicklook.png"
        ).read_bytes()
        assert (tmp_path / "r.png").read_bytes() == (
            qa / "products" / f"{name}_reference_map.png"
        ).read_bytes()


@pytest.fixture(scope="module")
def cli_page(run_a, tmp_path_factory) -> Path:
    """``benpipe qa`` on the run's dataset folder, as on a downloaded dataset."""
    config = yaml.safe_load((run_a.workdir / "demo-test.yaml").read_text())
    out = tmp_path_factory.mktemp("cli") / "qa"
    result = subprocess.run(
        [
            str(BIN / "benpipe"),
            "qa",
            str(run_a.results / "dataset"),
            "--out",
            str(out),
            "--countries",
            config["inputs"]["countries"],
            "--verification",
            str(run_a.results / "verification.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return out


def test_benpipe_qa_gives_the_pipeline_dataset_figures(run_a, cli_page):
    ours = run_a.results / "qa"
    files = sorted(
        p.relative_to(ours)
        for folder in ("dataset", "gallery")
        for p in (ours / folder).iterdir()
        if not p.name.startswith(".")
    )
    assert len(files) > 7
    for rel in files:
        assert (cli_page / rel).read_bytes() == (ours / rel).read_bytes(), rel


def check_page_in_chromium(page_path: Path, tmp_path: Path) -> str:
    """Open a QA page: all images load, no error, nothing fetched from outside."""
    with browser.browser_page(tmp_path) as (page, log):
        page.goto(page_path.as_uri())
        for image in page.locator("img").all():  # lazy images load when seen
            image.scroll_into_view_if_needed()
        widths = browser.image_widths(page)
        shot = page.screenshot(path=str(tmp_path / "qa-page.png"), full_page=True)
        text = page.inner_text("body")
    assert widths and all(w > 0 for w in widths.values()), widths
    assert not log.errors, log.errors
    folder = page_path.parent.as_uri()
    assert all(url.startswith(folder + "/") for url in log.requests), log.requests
    referenced = {src for src in widths}
    on_disk = {
        p.relative_to(page_path.parent).as_posix()
        for p in page_path.parent.rglob("*.png")
    }
    assert referenced == on_disk
    assert browser.screenshot_spread(shot) > 20
    return text


def test_qa_page_opens_offline_in_chromium(run_a, tmp_path):
    reason = browser.unavailable_reason()
    if reason:
        pytest.skip(reason)
    page = run_a.results / "qa" / "index.html"
    text = check_page_in_chromium(page, tmp_path)
    assert "all match" in text and "patch_hashes" in text
    for name in products(run_a):
        assert name in text


def test_cli_qa_page_opens_offline_in_chromium(cli_page, tmp_path):
    reason = browser.unavailable_reason()
    if reason:
        pytest.skip(reason)
    text = check_page_in_chromium(cli_page / "index.html", tmp_path)
    assert "Gallery" in text and "release_md5" in text


def test_report_shows_every_qa_figure_in_chromium(run_a, tmp_path):
    reason = browser.unavailable_reason()
    if reason:
        pytest.skip(reason)
    report = run_a.results / "report.html"
    result = subprocess.run(
        snakemake_command(
            run_a.workdir, run_a.workdir / "demo-test.yaml", "--report", str(report)
        ),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "WARNING" not in result.stderr, result.stderr[-4000:]
    with browser.browser_page(tmp_path) as (page, log):
        shown = browser.report_images(page, report.as_uri())
        page.goto(report.as_uri())
        shot = page.screenshot(path=str(tmp_path / "report.png"))
    figures = {p.name for p in (run_a.results / "qa").rglob("*.png")}
    assert figures <= set(shown), sorted(figures - set(shown))
    assert all(shown[name] > 0 for name in figures), shown
    assert not log.errors, log.errors
    assert browser.screenshot_spread(shot) > 10
