"""The CLC -> BEN-19 mapping (REFERENCE-PIPELINE §5.6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benpipe.clc import (
    BEN19_CLASSES,
    CLC_NAMES,
    CLC_RGBA,
    CLC_TO_BEN19,
    UNLABELED,
    UNLABELED_CODES,
    ben19_labels,
)

REFERENCE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "reference-artifacts"
)


def test_nineteen_classes_in_reference_order() -> None:
    assert len(BEN19_CLASSES) == 19
    assert len(set(BEN19_CLASSES)) == 19
    assert BEN19_CLASSES[0] == "Urban fabric"
    assert BEN19_CLASSES[6] == (
        "Land principally occupied by agriculture, with significant areas of "
        "natural vegetation"
    )
    assert BEN19_CLASSES[-1] == "Marine waters"


def test_every_class_is_reachable_and_only_classes_are_targets() -> None:
    targets = set(CLC_TO_BEN19.values())
    assert targets == set(BEN19_CLASSES) | {UNLABELED}


def test_thirteen_unlabeled_codes() -> None:
    assert (
        frozenset({122, 123, 124, 131, 132, 133, 141, 142, 332, 334, 335, 423, 999})
        == UNLABELED_CODES
    )


def test_known_quirks() -> None:
    assert CLC_TO_BEN19[241] == "Permanent crops"  # not Arable land
    assert CLC_TO_BEN19[333] == "Natural grassland and sparsely vegetated areas"
    assert len(CLC_TO_BEN19) == 45
    assert set(CLC_NAMES) == set(CLC_TO_BEN19) == set(CLC_RGBA)


def test_ben19_labels_sorted_without_unlabeled() -> None:
    assert ben19_labels(frozenset({512, 211, 122, 999})) == [
        "Arable land",
        "Inland waters",
    ]
    assert ben19_labels(frozenset({122})) == []


def test_reference_metadata_uses_exactly_the_19_classes() -> None:
    path = REFERENCE / "metadata.parquet"
    if not path.exists():
        pytest.skip(f"reference artifacts not found at {REFERENCE}")
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    labels = pq.read_table(path, columns=["labels"]).column("labels")
    names = set(pc.unique(pc.list_flatten(labels)).to_pylist())
    assert names == set(BEN19_CLASSES)
