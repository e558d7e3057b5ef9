"""The dataset stage: patch grid, labels, v1 alignment, export, assembly, check."""
