"""Session fixtures of the end-to-end tests: one demo world, complete runs.

``run_a`` is the one complete demo run that the pipeline tests and the
rerun (dry-run) tests share; ``run_b`` runs the same world in another
directory, for the reproducibility test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .demo import DemoRun, generate_world, run_demo


@pytest.fixture(scope="session")
def demo_world(tmp_path_factory) -> Path:
    return generate_world(tmp_path_factory.mktemp("world") / "demo-world")


def _checked(run: DemoRun) -> DemoRun:
    if run.result.returncode != 0:
        pytest.fail(
            "demo pipeline failed:\n"
            + run.result.stdout[-6000:]
            + "\n"
            + run.result.stderr[-12000:]
        )
    return run


@pytest.fixture(scope="session")
def run_a(demo_world, tmp_path_factory) -> DemoRun:
    return _checked(run_demo(demo_world, tmp_path_factory.mktemp("run-a")))


@pytest.fixture(scope="session")
def run_b(demo_world, tmp_path_factory) -> DemoRun:
    return _checked(run_demo(demo_world, tmp_path_factory.mktemp("elsewhere") / "b"))
