"""The release stage: hash lists, deterministic archives, verification, freezing."""
