# Rules of this stage: see docs/DESIGN.md §2.
