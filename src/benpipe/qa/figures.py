"""QA figures: matplotlib drawings of arrays and tables, returned as PNG bytes.

Every function takes what :mod:`benpipe.qa.core` computed (arrays, tables)
and returns the bytes of one PNG; nothing here reads or writes files.
Figures are deterministic for the same inputs: the Agg canvas on a private
:class:`~matplotlib.figure.Figure` (no pyplot state), matplotlib's default
style plus fixed overrides (whatever the user's matplotlibrc says), the
DejaVu Sans font that ships with matplotlib, a fixed DPI, and PNG metadata
without the ``Software`` entry (matplotlib writes no date into PNGs).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from benpipe.clc import BEN19_CLASSES, CLC_NAMES, CLC_RGBA
from benpipe.dataset.layout import SPLITS
from benpipe.qa.core import (
    BEN19_SHORT,
    Outcome,
    category_boundaries,
    cell_mask,
    clc_shares,
    clc_to_rgb,
    map_bounds,
    outcome_counts,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
FONT = "DejaVu Sans"
_RC: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": [FONT],
    "font.size": 9,
    "axes.titlesize": 10,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "image.interpolation": "nearest",
    "svg.hashsalt": "benpipe",
    "path.simplify": True,
}

SPLIT_COLOURS: dict[str, str] = {
    "train": "#66c2a5",
    "validation": "#fc8d62",
    "test": "#8da0cb",
}
OUTCOME_COLOURS: dict[Outcome, str] = {
    Outcome.KEPT: "#f0f0f0",
    Outcome.NODATA: "#000000",
    Outcome.FAILS_QUALITY: "#e41a1c",
    Outcome.NO_CLC: "#984ea3",
    Outcome.UNLABELED: "#ffff33",
}
NO_MAP_COLOUR = "#d9d9d9"


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib
    import matplotlib.style

    with matplotlib.style.context("default"), matplotlib.rc_context(_RC):  # type: ignore[arg-type]
        yield


def render_png(
    draw: Callable[[Figure], None], *, size_in: tuple[float, float]
) -> bytes:
    """Draw on a fresh Agg figure of ``size_in`` inches and return its PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with _style():
        fig = Figure(figsize=size_in, dpi=DPI)
        FigureCanvasAgg(fig)
        draw(fig)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _hex_rgba(colour: str, alpha: float) -> tuple[float, float, float, float]:
    from matplotlib.colors import to_rgba

    r, g, b, _ = to_rgba(colour)
    return (r, g, b, alpha)


def _grid_lines(ax: Axes, *, n: int, cell_km: float, **kwargs: Any) -> None:
    from matplotlib.collections import LineCollection

    edge = n * cell_km
    lines = [((k * cell_km, 0.0), (k * cell_km, edge)) for k in range(n + 1)]
    lines += [((0.0, k * cell_km), (edge, k * cell_km)) for k in range(n + 1)]
    ax.add_collection(LineCollection(lines, **kwargs))


def _clc_colour(code: int) -> tuple[float, float, float]:
    r, g, b, _ = CLC_RGBA[code]
    return (r / 255, g / 255, b / 255)


def _categorical(grid: np.ndarray, colours: Sequence[str]) -> npt.NDArray[np.float64]:
    lut = np.array([_hex_rgba(c, 1.0) for c in colours])
    return np.asarray(lut[grid], dtype=np.float64)


# ---------------------------------------------------------------- per product
def quicklook_png(
    rgb: npt.NDArray[np.uint8],
    *,
    pixel_m: float,
    outcomes: npt.NDArray[np.uint8],
    splits: npt.NDArray[np.uint8],
    patch_side_m: float,
    title: str,
    unlabeled_max_fraction: float,
) -> bytes:
    """True colour with the patch grid, dropped patches filled by outcome and
    the split rings outlined; beside it the outcome and split maps with counts."""
    from matplotlib import patheffects
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    n = outcomes.shape[0]
    cell_km = patch_side_m / 1000
    grid_km = n * cell_km
    height_km, width_km = rgb.shape[0] * pixel_m / 1000, rgb.shape[1] * pixel_m / 1000
    counts = outcome_counts(outcomes)
    outcome_order = list(Outcome)
    overlay = np.zeros((n, n, 4))
    for o in outcome_order:
        if o is not Outcome.KEPT:
            overlay[outcomes == o] = _hex_rgba(OUTCOME_COLOURS[o], 0.55)

    def draw(fig: Figure) -> None:
        gs = fig.add_gridspec(
            2,
            2,
            width_ratios=(2.4, 1),
            left=0.05,
            right=0.98,
            top=0.92,
            bottom=0.06,
            wspace=0.15,
            hspace=0.6,
        )
        ax = fig.add_subplot(gs[:, 0])
        ax.imshow(rgb, extent=(0, width_km, height_km, 0))
        ax.imshow(overlay, extent=(0, grid_km, grid_km, 0))
        _grid_lines(ax, n=n, cell_km=cell_km, colors="white", linewidths=0.3, alpha=0.5)
        halo = [patheffects.withStroke(linewidth=3.2, foreground="black")]
        for key, segments in category_boundaries(splits, cell_m=cell_km).items():
            ax.add_collection(
                LineCollection(
                    [((s.x0_m, s.y0_m), (s.x1_m, s.y1_m)) for s in segments],
                    colors=SPLIT_COLOURS[SPLITS[key]],
                    linewidths=1.8,
                    path_effects=halo,
                    capstyle="projecting",
                )
            )
        ax.set_xlim(0, max(width_km, grid_km))
        ax.set_ylim(max(height_km, grid_km), 0)
        ax.set_xlabel("km east of the tile's west edge")
        ax.set_ylabel("km south of the tile's north edge")
        ax.set_title("true colour (B04, B03, B02; 2–98 % stretch) and patch grid")
        ax.legend(
            handles=[
                Line2D([], [], color=SPLIT_COLOURS[s], lw=2, path_effects=halo)
                for s in SPLITS[1:]
            ],
            labels=[
                f"{a} | {b} boundary"
                for a, b in zip(SPLITS[:-1], SPLITS[1:], strict=True)
            ],
            loc="lower left",
            fontsize=8,
            framealpha=0.85,
        )

        ax_out = fig.add_subplot(gs[0, 1])
        ax_out.imshow(
            _categorical(outcomes, [OUTCOME_COLOURS[o] for o in outcome_order]),
            extent=(0, grid_km, grid_km, 0),
        )
        _grid_lines(ax_out, n=n, cell_km=cell_km, colors="#888888", linewidths=0.2)
        ax_out.set_title(f"patch outcomes ({n * n} patches)")
        ax_out.legend(
            handles=[
                Patch(facecolor=OUTCOME_COLOURS[o], edgecolor="#444444")
                for o in outcome_order
            ],
            labels=[
                f"{o.describe(unlabeled_max_fraction=unlabeled_max_fraction)}: "
                f"{counts[o]}"
                for o in outcome_order
            ],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.06),
            fontsize=8,
            frameon=False,
        )
        ax_out.set_xticks([])
        ax_out.set_yticks([])

        ax_split = fig.add_subplot(gs[1, 1])
        ax_split.imshow(
            _categorical(splits, [SPLIT_COLOURS[s] for s in SPLITS]),
            extent=(0, grid_km, grid_km, 0),
        )
        _grid_lines(ax_split, n=n, cell_km=cell_km, colors="#888888", linewidths=0.2)
        split_counts = np.bincount(splits.ravel(), minlength=len(SPLITS))
        ax_split.set_title("split rings (closed form, by patch centre)")
        ax_split.legend(
            handles=[Patch(facecolor=SPLIT_COLOURS[s]) for s in SPLITS],
            labels=[f"{s}: {int(split_counts[i])}" for i, s in enumerate(SPLITS)],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.06),
            fontsize=8,
            frameon=False,
            ncols=3,
        )
        ax_split.set_xticks([])
        ax_split.set_yticks([])
        fig.suptitle(title, fontsize=11)

    return render_png(draw, size_in=(15.0, 10.5))


def reference_map_png(
    codes: npt.NDArray[np.uint16],
    *,
    pixel_m: float,
    has_map: npt.NDArray[np.bool_],
    patch_side_m: float,
    title: str,
) -> bytes:
    """The reference-map mosaic of a product in the CLC palette, with a legend.

    Patches without a reference map (nodata, or no CLC pixel) are grey; the
    legend lists the CLC codes of the mapped patches with their pixel shares.
    """
    from matplotlib.patches import Patch

    n = has_map.shape[0]
    cell_km = patch_side_m / 1000
    grid_km = n * cell_km
    if codes.size:
        mapped = cell_mask(
            codes.shape, pixel_m=pixel_m, cell_m=patch_side_m, cells=has_map
        )
        image = clc_to_rgb(codes)
        image[~mapped] = (217, 217, 217)
        shares = clc_shares(codes[mapped]) if mapped.any() else {}
    else:
        image = None
        shares = {}

    def draw(fig: Figure) -> None:
        gs = fig.add_gridspec(
            1, 2, width_ratios=(2.2, 1), left=0.05, right=0.99, top=0.9, bottom=0.07
        )
        ax = fig.add_subplot(gs[0, 0])
        if image is not None:
            h_km = image.shape[0] * pixel_m / 1000
            w_km = image.shape[1] * pixel_m / 1000
            ax.imshow(image, extent=(0, w_km, h_km, 0))
        else:
            ax.text(
                0.5,
                0.5,
                "no CLC polygon intersects this tile:\nno reference maps, no labels",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
        _grid_lines(
            ax, n=n, cell_km=cell_km, colors="#444444", linewidths=0.25, alpha=0.6
        )
        ax.set_xlim(0, grid_km)
        ax.set_ylim(grid_km, 0)
        ax.set_xlabel("km east of the tile's west edge")
        ax.set_ylabel("km south of the tile's north edge")
        ax.set_title(
            f"reference maps: {int(has_map.sum())} of {n * n} patches (grey: no map)"
        )
        leg = fig.add_subplot(gs[0, 1])
        leg.axis("off")
        if shares:
            handles = [
                Patch(
                    facecolor=_clc_colour(code),
                    edgecolor="#444444",
                )
                for code in shares
            ]
            labels = [
                f"{code} {textwrap.shorten(CLC_NAMES[code], 44, placeholder='…')} "
                f"({100 * share:.1f} %)"
                for code, share in shares.items()
            ]
            leg.legend(
                handles=handles,
                labels=labels,
                loc="upper left",
                fontsize=8,
                frameon=False,
                title="CLC code (share of mapped pixels)",
                title_fontsize=9,
                alignment="left",
            )
        fig.suptitle(title, fontsize=11)

    return render_png(draw, size_in=(14.0, 9.0))


# ---------------------------------------------------------------- per dataset
def _split_legend(ax: Axes, *, outside: bool = False) -> None:
    from matplotlib.patches import Patch

    where = (
        {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)}
        if outside
        else {"loc": "lower right"}
    )
    ax.legend(
        handles=[Patch(facecolor=SPLIT_COLOURS[s]) for s in SPLITS],
        labels=list(SPLITS),
        fontsize=8,
        **where,
    )


def class_frequency_png(table: Mapping[str, Mapping[str, int]], *, title: str) -> bytes:
    """Grouped horizontal bars: patches per BEN-19 class and split."""
    classes = list(BEN19_CLASSES)
    y = np.arange(len(classes))
    height = 0.27

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot(1, 1, 1)
        for i, split in enumerate(SPLITS):
            values = [table[c][split] for c in classes]
            ax.barh(
                y + (i - 1) * height,
                values,
                height=height,
                color=SPLIT_COLOURS[split],
                label=split,
            )
        for yi, cls in zip(y, classes, strict=True):
            total = sum(table[cls].values())
            ax.text(
                max(max(table[cls].values()), 0),
                float(yi),
                f" {total}",
                va="center",
                fontsize=7,
                color="#333333",
            )
        ax.set_yticks(y, [f"{i + 1}. {BEN19_SHORT[c]}" for i, c in enumerate(classes)])
        ax.invert_yaxis()
        ax.set_xlabel("patches carrying the class (a patch counts once per label)")
        ax.set_title(title)
        ax.margins(x=0.12)
        _split_legend(ax)
        fig.subplots_adjust(left=0.27, right=0.97, top=0.93, bottom=0.08)

    return render_png(draw, size_in=(10.0, 8.0))


def cooccurrence_png(matrix: npt.NDArray[np.int64], *, title: str) -> bytes:
    """19 x 19 heatmap of patches carrying both classes (log colour scale)."""
    from matplotlib.colors import LogNorm

    classes = list(BEN19_CLASSES)
    masked = np.ma.masked_equal(matrix, 0)
    top = max(int(matrix.max()), 1)

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot(1, 1, 1)
        im = ax.imshow(masked, cmap="viridis", norm=LogNorm(vmin=1, vmax=max(top, 2)))
        ticks = [f"{i + 1}. {BEN19_SHORT[c]}" for i, c in enumerate(classes)]
        ax.set_xticks(range(len(classes)), [str(i + 1) for i in range(len(classes))])
        ax.set_yticks(range(len(classes)), ticks)
        ax.set_facecolor("#f4f4f4")
        for (r, c), value in np.ndenumerate(matrix):
            if value:
                bright = np.log(value) > 0.6 * np.log(max(top, 2))
                ax.text(
                    c,
                    r,
                    str(value),
                    ha="center",
                    va="center",
                    fontsize=5.5,
                    color="black" if bright else "white",
                )
        ax.set_xlabel("class (number as on the left)")
        ax.set_title(title)
        fig.colorbar(im, ax=ax, shrink=0.8, label="patches with both labels")
        fig.subplots_adjust(left=0.25, right=0.98, top=0.94, bottom=0.07)

    return render_png(draw, size_in=(11.0, 9.0))


def split_counts_png(
    table: Mapping[str, Mapping[str, int]], *, title: str, what: str
) -> bytes:
    """Stacked horizontal bars: patches per value of ``what`` and split."""
    keys = list(table)
    y = np.arange(len(keys))
    height_in = max(3.0, 1.4 + 0.28 * len(keys))

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot(1, 1, 1)
        left = np.zeros(len(keys))
        for split in SPLITS:
            values = np.array([table[k][split] for k in keys], dtype=float)
            ax.barh(y, values, left=left, color=SPLIT_COLOURS[split], label=split)
            left += values
        for yi, total in zip(y, left, strict=True):
            ax.text(float(total), float(yi), f" {int(total)}", va="center", fontsize=7)
        ax.set_yticks(y, keys)
        ax.invert_yaxis()
        ax.set_xlabel("patches")
        ax.set_ylabel(what)
        ax.margins(x=0.1)
        ax.set_title(title)
        _split_legend(ax, outside=True)
        fig.tight_layout()

    return render_png(draw, size_in=(10.0, height_in))


@dataclass(frozen=True, slots=True)
class MapLayer:
    """Patch centres (metres, one CRS) with their split index and side length."""

    x_m: npt.NDArray[np.float64]
    y_m: npt.NDArray[np.float64]
    split: npt.NDArray[np.uint8]
    side_m: float


def patch_map_png(
    patches: MapLayer,
    *,
    outlines: Sequence[npt.NDArray[np.float64]],
    outline_names: Sequence[tuple[float, float, str]],
    title: str,
    crs_label: str,
) -> bytes:
    """Every patch as a square coloured by split, over country outlines."""
    from matplotlib.collections import PolyCollection

    x0, y0, x1, y1 = map_bounds(patches.x_m, patches.y_m)

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot(1, 1, 1)
        ax.set_facecolor("#e8f1f8")
        if outlines:
            ax.add_collection(
                PolyCollection(
                    [ring for ring in outlines],
                    facecolors="#fbfbf5",
                    edgecolors="#666666",
                    linewidths=0.6,
                    zorder=1,
                )
            )
        for x, y, name in outline_names:
            if x0 <= x <= x1 and y0 <= y <= y1:
                ax.text(x, y, name, fontsize=7, color="#555555", ha="center", zorder=2)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal", adjustable="box")
        ax.apply_aspect()
        box = ax.get_window_extent()
        side_pt = patches.side_m * box.width / (x1 - x0) * 72 / DPI
        for i, split in enumerate(SPLITS):
            sel = patches.split == i
            ax.scatter(
                patches.x_m[sel],
                patches.y_m[sel],
                s=max(side_pt, 1.2) ** 2,
                marker="s",
                c=SPLIT_COLOURS[split],
                linewidths=0,
                label=f"{split}: {int(sel.sum())}",
                zorder=3,
            )
        # legend squares of at least 6 pt, whatever the map's scale
        ax.legend(
            loc="lower right", fontsize=8, markerscale=max(1.0, 6 / max(side_pt, 1.2))
        )
        ax.set_xlabel(f"x ({crs_label}, m)")
        ax.set_ylabel(f"y ({crs_label}, m)")
        ax.ticklabel_format(style="plain")
        ax.tick_params(labelsize=7)
        ax.set_title(title)
        fig.subplots_adjust(left=0.1, right=0.97, top=0.94, bottom=0.08)

    return render_png(draw, size_in=(10.0, 9.0))


@dataclass(frozen=True, slots=True)
class GallerySample:
    """One patch of the gallery: images as uint8 RGB/grey, CLC codes raw."""

    patch_id: str
    labels: tuple[str, ...]
    rgb: npt.NDArray[np.uint8]
    reference_map: npt.NDArray[np.uint16] | None
    vv: npt.NDArray[np.uint8] | None
    vh: npt.NDArray[np.uint8] | None


def gallery_png(cls: str, samples: Sequence[GallerySample], *, title: str) -> bytes:
    """Sample patches of one class: true colour, reference map, S1 VV and VH."""
    rows = ("true colour", "reference map", "S1 VV", "S1 VH")
    cols = max(len(samples), 1)

    def draw(fig: Figure) -> None:
        axes = fig.subplots(len(rows), cols, squeeze=False)
        for c in range(cols):
            sample = samples[c] if c < len(samples) else None
            images: list[np.ndarray | None] = (
                [
                    sample.rgb,
                    clc_to_rgb(sample.reference_map)
                    if sample.reference_map is not None
                    else None,
                    sample.vv,
                    sample.vh,
                ]
                if sample is not None
                else [None] * len(rows)
            )
            for r, image in enumerate(images):
                ax = axes[r][c]
                ax.set_xticks([])
                ax.set_yticks([])
                if image is None:
                    ax.text(0.5, 0.5, "missing", ha="center", va="center", fontsize=8)
                else:
                    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
                if c == 0:
                    ax.set_ylabel(rows[r], fontsize=8)
            if sample is not None:
                tile, col, row = sample.patch_id.rsplit("_", 2)
                axes[0][c].set_title(
                    f"{tile.rsplit('_', 1)[1]} {col}_{row}", fontsize=8
                )
                wrapped = textwrap.fill(
                    "; ".join(BEN19_SHORT[label] for label in sample.labels), 30
                )
                axes[-1][c].set_xlabel(wrapped, fontsize=6.5)
        fig.suptitle(title, fontsize=11)
        fig.subplots_adjust(
            left=0.08, right=0.98, top=0.9, bottom=0.13, wspace=0.08, hspace=0.08
        )

    return render_png(draw, size_in=(0.6 + 2.0 * cols, 9.6))
