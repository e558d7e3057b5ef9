"""CORINE Land Cover 2018 codes and their BEN-19 classes: the one home of the mapping.

Source: REFERENCE-PIPELINE.md §5.6 (upstream ``nu-scripts/clc_metadata.json``).
Reference maps store the raw CLC code; labels are the BEN-19 class names of the
codes present, where 13 codes (including the 999 filler for area outside CLC)
are UNLABELED and count towards the unlabeled fraction of a patch.
"""

from __future__ import annotations

#: Marker used for codes that carry no BEN-19 class.
UNLABELED = "UNLABELED"

#: Code used for CLC NODATA and for patch area not covered by any CLC polygon.
NO_COVERAGE_CODE = 999

#: The 19 BEN classes, in the order of the reference (§5.6).
BEN19_CLASSES: tuple[str, ...] = (
    "Urban fabric",
    "Industrial or commercial units",
    "Arable land",
    "Permanent crops",
    "Pastures",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural "
    "vegetation",
    "Agro-forestry areas",
    "Broad-leaved forest",
    "Coniferous forest",
    "Mixed forest",
    "Natural grassland and sparsely vegetated areas",
    "Moors, heathland and sclerophyllous vegetation",
    "Transitional woodland, shrub",
    "Beaches, dunes, sands",
    "Inland wetlands",
    "Coastal wetlands",
    "Inland waters",
    "Marine waters",
)

_AGRI_NATURAL = BEN19_CLASSES[6]

#: CLC level-3 names (code -> name), including the 999 filler.
CLC_NAMES: dict[int, str] = {
    111: "Continuous urban fabric",
    112: "Discontinuous urban fabric",
    121: "Industrial or commercial units",
    122: "Road and rail networks and associated land",
    123: "Port areas",
    124: "Airports",
    131: "Mineral extraction sites",
    132: "Dump sites",
    133: "Construction sites",
    141: "Green urban areas",
    142: "Sport and leisure facilities",
    211: "Non-irrigated arable land",
    212: "Permanently irrigated land",
    213: "Rice fields",
    221: "Vineyards",
    222: "Fruit trees and berry plantations",
    223: "Olive groves",
    231: "Pastures",
    241: "Annual crops associated with permanent crops",
    242: "Complex cultivation patterns",
    243: _AGRI_NATURAL,
    244: "Agro-forestry areas",
    311: "Broad-leaved forest",
    312: "Coniferous forest",
    313: "Mixed forest",
    321: "Natural grassland",
    322: "Moors and heathland",
    323: "Sclerophyllous vegetation",
    324: "Transitional woodland/shrub",
    331: "Beaches, dunes, sands",
    332: "Bare rock",
    333: "Sparsely vegetated areas",
    334: "Burnt areas",
    335: "Glaciers and perpetual snow",
    411: "Inland marshes",
    412: "Peatbogs",
    421: "Salt marshes",
    422: "Salines",
    423: "Intertidal flats",
    511: "Water courses",
    512: "Water bodies",
    521: "Coastal lagoons",
    522: "Estuaries",
    523: "Sea and ocean",
    999: "UNLABELED (CLC NODATA or not covered by CLC)",
}

#: CLC code -> BEN-19 class name, or :data:`UNLABELED` (§5.6).
CLC_TO_BEN19: dict[int, str] = {
    111: "Urban fabric",
    112: "Urban fabric",
    121: "Industrial or commercial units",
    122: UNLABELED,
    123: UNLABELED,
    124: UNLABELED,
    131: UNLABELED,
    132: UNLABELED,
    133: UNLABELED,
    141: UNLABELED,
    142: UNLABELED,
    211: "Arable land",
    212: "Arable land",
    213: "Arable land",
    221: "Permanent crops",
    222: "Permanent crops",
    223: "Permanent crops",
    231: "Pastures",
    241: "Permanent crops",
    242: "Complex cultivation patterns",
    243: _AGRI_NATURAL,
    244: "Agro-forestry areas",
    311: "Broad-leaved forest",
    312: "Coniferous forest",
    313: "Mixed forest",
    321: "Natural grassland and sparsely vegetated areas",
    322: "Moors, heathland and sclerophyllous vegetation",
    323: "Moors, heathland and sclerophyllous vegetation",
    324: "Transitional woodland, shrub",
    331: "Beaches, dunes, sands",
    332: UNLABELED,
    333: "Natural grassland and sparsely vegetated areas",
    334: UNLABELED,
    335: UNLABELED,
    411: "Inland wetlands",
    412: "Inland wetlands",
    421: "Coastal wetlands",
    422: "Coastal wetlands",
    423: UNLABELED,
    511: "Inland waters",
    512: "Inland waters",
    521: "Marine waters",
    522: "Marine waters",
    523: "Marine waters",
    999: UNLABELED,
}

#: The 13 CLC codes without a BEN-19 class.
UNLABELED_CODES: frozenset[int] = frozenset(
    code for code, cls in CLC_TO_BEN19.items() if cls == UNLABELED
)

#: Standard CLC palette (RGBA) for reference-map rendering (§5.6).
CLC_RGBA: dict[int, tuple[int, int, int, int]] = {
    111: (230, 0, 77, 255),
    112: (255, 0, 0, 255),
    121: (204, 77, 242, 255),
    122: (204, 0, 0, 255),
    123: (230, 204, 204, 255),
    124: (230, 204, 230, 255),
    131: (166, 0, 204, 255),
    132: (166, 77, 0, 255),
    133: (255, 77, 255, 255),
    141: (255, 166, 255, 255),
    142: (255, 230, 255, 255),
    211: (255, 255, 168, 255),
    212: (255, 255, 0, 255),
    213: (230, 230, 0, 255),
    221: (230, 128, 0, 255),
    222: (242, 166, 77, 255),
    223: (230, 166, 0, 255),
    231: (230, 230, 77, 255),
    241: (255, 230, 166, 255),
    242: (255, 230, 77, 255),
    243: (230, 204, 77, 255),
    244: (242, 204, 166, 255),
    311: (128, 255, 0, 255),
    312: (0, 166, 0, 255),
    313: (77, 255, 0, 255),
    321: (204, 242, 77, 255),
    322: (166, 255, 128, 255),
    323: (166, 230, 77, 255),
    324: (166, 242, 0, 255),
    331: (230, 230, 230, 255),
    332: (204, 204, 204, 255),
    333: (204, 255, 204, 255),
    334: (0, 0, 0, 255),
    335: (166, 230, 204, 255),
    411: (166, 166, 255, 255),
    412: (77, 77, 255, 255),
    421: (204, 204, 255, 255),
    422: (230, 230, 255, 255),
    423: (166, 166, 230, 255),
    511: (0, 204, 242, 255),
    512: (128, 242, 230, 255),
    521: (0, 255, 166, 255),
    522: (166, 255, 230, 255),
    523: (230, 242, 255, 255),
    999: (10, 10, 10, 255),
}


def ben19_labels(codes: set[int] | frozenset[int]) -> list[str]:
    """Sorted (byte order) BEN-19 class names of a set of CLC codes.

    UNLABELED codes contribute nothing.  Raises ``KeyError`` for an unknown code.
    """
    return sorted({CLC_TO_BEN19[c] for c in codes} - {UNLABELED})
