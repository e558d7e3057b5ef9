"""The standalone QA page: ``<qa dir>/index.html``, offline, no scripts.

The page references its figures by relative paths inside the QA directory
(``dataset/``, ``gallery/``, ``products/``) and carries its style inline: no
network resource, no JavaScript, so it opens from a file system, an archive
or a web server alike.  Its text holds no time stamp, so a rerun on the
same inputs writes the same bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from benpipe.dataset.layout import SPLITS
from benpipe.errors import InputDataError
from benpipe.fileio import atomic_write_text
from benpipe.qa.dataset import DATASET_DIR, SUMMARY_FILE, DatasetQa, FigureEntry
from benpipe.qa.product import ProductQa

PAGE_FILE = "index.html"
PRODUCTS_DIR = "products"

_CSS = """
body { font-family: "DejaVu Sans", Verdana, sans-serif; margin: 0 auto;
       max-width: 1600px; padding: 0 1.5em 3em; color: #222; }
h1 { margin-top: 0.8em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.8em; }
nav a { margin-right: 1.2em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.match { background: #e5f5e0; } .differ, .missing { background: #fde0dd; }
.untracked { background: #f0f0f0; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto;
       border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; }
.gallery { display: flex; flex-wrap: wrap; gap: 1em; }
.gallery figure { width: 31%; min-width: 320px; }
"""


@dataclass(frozen=True, slots=True)
class ProductFiles:
    """The QA files of one product, relative to the QA directory."""

    quicklook: str
    reference_map: str
    summary: str


def product_files(product: str) -> ProductFiles:
    """Where ``qa_product`` writes a product's figures (relative to the QA dir)."""
    return ProductFiles(
        quicklook=f"{PRODUCTS_DIR}/{product}_quicklook.png",
        reference_map=f"{PRODUCTS_DIR}/{product}_reference_map.png",
        summary=f"{PRODUCTS_DIR}/{product}.json",
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, int | float) and not isinstance(value, bool):
                cells.append(f'<td class="num">{value}</td>')
            else:
                cells.append(f"<td>{escape(str(value))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _figure(file: str, title: str, description: str, *, lazy: bool = False) -> str:
    loading = ' loading="lazy"' if lazy else ""
    return (
        f'<figure><img src="{escape(file)}" alt="{escape(title)}"{loading}>'
        f"<figcaption><b>{escape(title)}.</b> {escape(description)}</figcaption>"
        "</figure>"
    )


def verification_section(report: Mapping[str, Any] | None) -> str:
    """The verify result as a table (or a note that there is none)."""
    if report is None:
        return (
            "<p>No verification result was given (the pipeline's "
            "<code>results/verification.json</code>; "
            "<code>benpipe qa --verification</code>).</p>"
        )
    artifacts = report.get("artifacts")
    if not isinstance(artifacts, Mapping):
        raise InputDataError(
            "the verification report has no 'artifacts' mapping; pass the "
            "verification.json that the verify rule writes"
        )
    rows = []
    for name, art in artifacts.items():
        status = str(art.get("status", "?"))
        details = []
        if "rows_produced" in art:
            details.append(
                f"{art['rows_produced']} rows produced, {art.get('rows_tracked', '?')} "
                f"tracked; {art.get('added', 0)} added, {art.get('removed', 0)} "
                f"removed, {art.get('changed', 0)} changed"
            )
        for key in ("note", "hint", "error"):
            if art.get(key):
                details.append(str(art[key]))
        rows.append(
            f'<tr class="{escape(status)}"><td>{escape(str(name))}</td>'
            f"<td>{escape(status)}</td><td>{escape('; '.join(details))}</td></tr>"
        )
    verdict = "all match" if report.get("all_match") else "NOT all match"
    counts = report.get("counts", {})
    summary = ", ".join(f"{k} {v}" for k, v in counts.items())
    return (
        f"<p><b>{escape(verdict)}</b> ({escape(summary)}), compared with "
        f"<code>{escape(str(report.get('tracked_artifacts_dir', '?')))}</code>.</p>"
        "<table><tr><th>artifact</th><th>status</th><th>details</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _dataset_section(dataset: DatasetQa) -> str:
    facts = [
        ("patches (metadata.parquet)", dataset.patches),
        ("patches with snow, cloud or shadow (second parquet)", dataset.flagged),
        ("tile folders", dataset.tiles),
        *((f"{s} patches", dataset.splits.get(s, 0)) for s in SPLITS),
        *((f"patches in {c}", v) for c, v in dataset.countries.items()),
    ]
    figures = "".join(_figure(f.file, f.title, f.description) for f in dataset.figures)
    return _table(("fact", "value"), facts) + figures


def _gallery_section(entries: Sequence[FigureEntry]) -> str:
    if not entries:
        return "<p>No labelled patch: nothing to show.</p>"
    return (
        "<p>Per class: true colour (B04/B03/B02, 2–98 % stretch per patch), "
        "reference map in the CLC palette, Sentinel-1 VV (−25…0 dB) and VH "
        "(−32…−5 dB); each column's labels below it.</p>"
        '<div class="gallery">'
        + "".join(_figure(f.file, f.title, f.description, lazy=True) for f in entries)
        + "</div>"
    )


def _products_section(products: Sequence[tuple[ProductQa, ProductFiles]]) -> str:
    if not products:
        return ""
    outcome_names = list(products[0][0].outcomes)
    rows = [
        (
            qa.product,
            qa.patches,
            *(qa.outcomes.get(o, 0) for o in outcome_names),
            qa.reference_maps,
        )
        for qa, _ in products
    ]
    table = _table(("product", "patches", *outcome_names, "reference maps"), rows)
    parts = [
        "<p>Per product: the true-colour quicklook with the patch grid (dropped "
        "patches filled by reason, split-ring boundaries outlined) and the "
        "reference-map mosaic. Patches kept here can still leave the dataset "
        "when they have no v1 alignment.</p>",
        table,
    ]
    for qa, files in products:
        parts.append(f'<h3 id="{escape(qa.product)}">{escape(qa.product)}</h3>')
        parts.append(
            _figure(
                files.quicklook,
                "Quicklook",
                "True colour and patch outcomes.",
                lazy=True,
            )
        )
        parts.append(
            _figure(
                files.reference_map,
                "Reference maps",
                "CORINE reference maps in the CLC palette.",
                lazy=True,
            )
        )
    return "".join(parts)


def render_page(
    *,
    title: str,
    dataset: DatasetQa | None,
    products: Sequence[tuple[ProductQa, ProductFiles]],
    verification: Mapping[str, Any] | None,
) -> str:
    """The page's HTML text (deterministic for the same inputs)."""
    sections = [("verification", "Verification", verification_section(verification))]
    if dataset is not None:
        sections.append(("dataset", "Dataset", _dataset_section(dataset)))
        sections.append(("gallery", "Gallery", _gallery_section(dataset.gallery)))
    if products:
        sections.append(("products", "Products", _products_section(products)))
    nav = "".join(f'<a href="#{key}">{escape(name)}</a>' for key, name, _ in sections)
    body = "".join(
        f'<section id="{key}"><h2>{escape(name)}</h2>{html}</section>'
        for key, name, html in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{escape(title)}</h1><nav>{nav}</nav>{body}</body></html>\n"
    )


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{what} {path} is unreadable ({exc})") from exc


def write_qa_page(
    qa_dir: Path,
    *,
    title: str,
    product_summaries: Sequence[Path] = (),
    verification: Path | None = None,
) -> Path:
    """Write ``<qa_dir>/index.html`` from what the QA steps wrote into ``qa_dir``.

    Reads ``dataset/summary.json`` when present, each product's summary JSON
    (its figures must sit next to it, under ``products/``) and the verify
    result.  Every referenced image must exist inside ``qa_dir``.
    """
    summary = qa_dir / DATASET_DIR / SUMMARY_FILE
    dataset = DatasetQa.read(summary) if summary.is_file() else None
    products: list[tuple[ProductQa, ProductFiles]] = []
    for path in sorted(product_summaries):
        try:
            qa = ProductQa.from_json(_read_json(path, "product QA summary"))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputDataError(
                f"product QA summary {path} is incomplete ({exc}); rerun qa_product"
            ) from exc
        files = product_files(qa.product)
        if Path(os.path.relpath(path, qa_dir)).as_posix() != files.summary:
            raise InputDataError(
                f"product QA summary {path} is not at {qa_dir / files.summary}"
            )
        products.append((qa, files))
    report = _read_json(verification, "verification report") if verification else None
    referenced = (
        [f.file for f in (dataset.figures + dataset.gallery)] if dataset else []
    )
    referenced += [p for _, f in products for p in (f.quicklook, f.reference_map)]
    missing = [f for f in referenced if not (qa_dir / f).is_file()]
    if missing:
        raise InputDataError(
            f"the QA page would reference {len(missing)} missing figure(s) in "
            f"{qa_dir} (first: {missing[0]}); rerun the QA steps"
        )
    out = qa_dir / PAGE_FILE
    atomic_write_text(
        out,
        render_page(
            title=title, dataset=dataset, products=products, verification=report
        ),
    )
    return out
