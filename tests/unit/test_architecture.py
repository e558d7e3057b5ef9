"""The module floors of src/benpipe (docs/DESIGN.md §3), enforced on the source.

Every module sits on one floor; imports (also those inside functions and
under TYPE_CHECKING) go down or stay on the same floor, never up, and never
in a circle.  Every stage package has the same shape (STYLE.md §3.1): an
``__init__`` with names only, pure core modules, I/O edges, its SQL in one
``sql.py`` and its click commands in one ``cli.py``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from benpipe.cli import COMMANDS

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "benpipe"

# ---------------------------------------------------------------- the floors
BASE, SHARED_CORE, SHARED_IO, STAGE_CORE, STAGE_IO, CLI = range(6)
FLOOR_NAMES = {
    BASE: "base",
    SHARED_CORE: "shared core",
    SHARED_IO: "shared I/O",
    STAGE_CORE: "stage core",
    STAGE_IO: "stage I/O and SQL",
    CLI: "cli",
}

#: Top-level modules (the shared floors, and the click group on top).
SHARED: dict[str, int] = {
    "benpipe": BASE,
    "benpipe.errors": BASE,
    "benpipe.names": SHARED_CORE,
    "benpipe.grid": SHARED_CORE,
    "benpipe.clc": SHARED_CORE,
    "benpipe.log": SHARED_IO,
    "benpipe.fileio": SHARED_IO,
    "benpipe.geotiff": SHARED_IO,
    "benpipe.csvdiff": SHARED_IO,
    # content state of directory inputs (issue 14 item 3)
    "benpipe.dirstate": SHARED_IO,
    # run settings from the environment (issue 12 item 4, branch params)
    "benpipe.runsettings": SHARED_IO,
    "benpipe.cli": CLI,
    # Entry point of the workflow, like the click group: the checks the schema
    # cannot express gather rules of several stages (e.g. db.url's URL form).
    "benpipe.config_checks": CLI,
}
#: Stage packages.  Their ``cli`` module is on the cli floor, the modules
#: below on the stage-core floor, every other module (``__init__``, I/O edges,
#: ``sql``) on the stage I/O floor.
STAGES = (
    "l1c",
    "cdse",
    "l2a",
    "dataset",
    "release",
    "demo",
    "db",
    "qa",
    "catalogue",
)
STAGE_CORES = frozenset(
    {
        "benpipe.dataset.tile_grid",
        "benpipe.dataset.labels",
        "benpipe.dataset.layout",
        "benpipe.release.tar",
        "benpipe.release.checksums",
        "benpipe.l2a.dos1",
        "benpipe.demo.spec",
        "benpipe.qa.core",
        "benpipe.catalogue.core",
        "benpipe.catalogue.majortom",
        "benpipe.catalogue.stac",
    }
)
#: What a pure core may not import: files, processes, network, databases, CLI.
IMPURE = (
    "benpipe.fileio",
    "benpipe.geotiff",
    "benpipe.log",
    "benpipe.csvdiff",
    "benpipe.dirstate",
    "benpipe.db",
    "click",
    "psycopg",
    "sqlalchemy",
    "requests",
    "urllib",
    "http",
    "socket",
    "subprocess",
    "shutil",
    "tempfile",
    "zipfile",
    "pyogrio",
    "pyarrow.parquet",
    "rasterio.io",
    "os",
)
#: Names a pure core may not call (file access).
IMPURE_CALLS = frozenset(
    {"open", "read_text", "write_text", "read_bytes", "write_bytes"}
)

#: Known departures, each waiting for the branch that removes it.  The tests
#: fail when a departure is gone, so that its entry is deleted here too.
PENDING_COMMANDS: dict[str, str] = {}
#: Modules that keep their SQL text outside their stage's sql.py for good.
#: Alembic revisions are frozen history: a revision must run the very SQL it
#: ran when it was released (databases are stamped with it), so it can never
#: share a statement that later code may change.
FROZEN_SQL_PREFIXES = ("benpipe.db.alembic.versions.",)

SQL_START = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|COPY|CREATE|ALTER|DROP|TRUNCATE|WITH|ANALYZE"
    r"|SHOW|LOCK)\s"
)


# ---------------------------------------------------------------- parsing
def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, ast.Module]:
    return {
        module_name(path): ast.parse(path.read_text(encoding="utf-8"), str(path))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def is_package(name: str) -> bool:
    return (SRC / name.replace(".", "/") / "__init__.py").is_file()


def resolve(source: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The modules an import statement loads (benpipe modules and others)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = source if is_package(source) else source.rsplit(".", 1)[0]
        for _ in range(node.level - 1):
            package = package.rsplit(".", 1)[0]
        base = f"{package}.{base}" if base else package
    known = modules()
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        yield candidate if candidate in known else base


@cache
def imports() -> dict[str, frozenset[str]]:
    """Every module's imports, wherever they stand in the file."""
    return {
        name: frozenset(
            target
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for target in resolve(name, node)
        )
        for name, tree in modules().items()
    }


def benpipe_imports(name: str) -> frozenset[str]:
    return frozenset(t for t in imports()[name] if t in modules() and t != name)


def stage_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def floor_of(name: str) -> int:
    if name in SHARED:
        return SHARED[name]
    if stage_of(name) is None:
        raise KeyError(name)
    if name.endswith(".cli"):
        return CLI
    if name in STAGE_CORES:
        return STAGE_CORE
    return STAGE_IO


# ---------------------------------------------------------------- floors
def test_every_module_is_on_a_floor() -> None:
    unplaced = []
    for name in modules():
        try:
            floor_of(name)
        except KeyError:
            unplaced.append(name)
    assert not unplaced, (
        f"{unplaced}: put new top-level modules in a stage package, or add them "
        "to SHARED on their floor (and to docs/DESIGN.md §3)"
    )
    assert set(modules()) >= STAGE_CORES, sorted(STAGE_CORES - set(modules()))


def test_imports_go_down_the_floors() -> None:
    upward = [
        f"{name} ({FLOOR_NAMES[floor_of(name)]}) imports {target} "
        f"({FLOOR_NAMES[floor_of(target)]})"
        for name in modules()
        for target in sorted(benpipe_imports(name))
        if floor_of(target) > floor_of(name)
    ]
    assert not upward, "\n".join(upward)


def _find_cycle(graph: dict[str, frozenset[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_modules_or_stages() -> None:
    graph = {name: benpipe_imports(name) for name in modules()}
    assert _find_cycle(graph) is None, " -> ".join(_find_cycle(graph) or [])
    stages: dict[str, set[str]] = {stage: set() for stage in STAGES}
    for name, targets in graph.items():
        source = stage_of(name)
        for target in targets:
            if source and stage_of(target) not in (None, source):
                stages[source].add(str(stage_of(target)))
    frozen = {k: frozenset(v) for k, v in stages.items()}
    assert _find_cycle(frozen) is None, " -> ".join(_find_cycle(frozen) or [])


@pytest.mark.parametrize("name", sorted(STAGE_CORES))
def test_stage_cores_are_pure(name: str) -> None:
    impure = sorted(
        t
        for t in imports()[name]
        if any(t == m or t.startswith(m + ".") for m in IMPURE)
    )
    assert not impure, f"{name} is a pure core but imports {impure}"
    calls = sorted(
        {
            node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            for node in ast.walk(modules()[name])
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (
                node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            )
            in IMPURE_CALLS
        }
    )
    assert not calls, f"{name} is a pure core but calls {calls}"


# ---------------------------------------------------------------- stage shape
def _is_command(node: ast.AST) -> bool:
    if not isinstance(node, ast.FunctionDef):
        return False
    for decorator in node.decorator_list:
        func = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(func, ast.Attribute) and func.attr in ("command", "group"):
            return True
    return False


def _sql_literals(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        text = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr) and node.values:
            first = node.values[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                text = first.value
        if text is not None and SQL_START.match(text):
            found.append(text.strip().splitlines()[0][:60])
    return found


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_package_has_the_same_shape(stage: str) -> None:
    package = f"benpipe.{stage}"
    members = {n: t for n, t in modules().items() if stage_of(n) == stage}
    init = members[package]
    assert ast.get_docstring(init), f"{package}/__init__.py needs a docstring"
    defined = [
        n.name
        for n in init.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    assert not defined, f"{package}/__init__.py holds names only, not {defined}"
    # every click command of the stage lives in its cli.py
    stray = sorted(
        name
        for name, tree in members.items()
        if not name.endswith(".cli")
        and any(_is_command(n) for n in ast.walk(tree))
        and name not in PENDING_COMMANDS
    )
    assert not stray, f"click commands outside {package}.cli: {stray}"
    # the stage's SQL text lives in its sql.py
    misplaced = {
        name: _sql_literals(tree)
        for name, tree in members.items()
        if not name.endswith(".sql")
        and not name.startswith(FROZEN_SQL_PREFIXES)
        and _sql_literals(tree)
    }
    assert not misplaced, f"SQL outside {package}.sql: {misplaced}"


def test_frozen_sql_exemptions_name_real_modules() -> None:
    for prefix in FROZEN_SQL_PREFIXES:
        assert any(name.startswith(prefix) for name in modules()), (
            f"no module starts with {prefix}: delete it from FROZEN_SQL_PREFIXES"
        )


def test_pending_departures_are_still_pending() -> None:
    for name in PENDING_COMMANDS:
        assert any(_is_command(n) for n in ast.walk(modules()[name])), (
            f"{name} has no click command any more: delete it from PENDING_COMMANDS"
        )


def test_the_command_line_registers_commands_from_stage_cli_modules() -> None:
    targets = {spec.split(":")[0] for spec in COMMANDS.values()}
    outside = sorted(
        t for t in targets if not t.endswith(".cli") and t not in PENDING_COMMANDS
    )
    assert not outside, (
        f"benpipe.cli.COMMANDS points outside stage cli modules: {outside}"
    )
    assert all(t in modules() for t in targets), sorted(targets - set(modules()))
