"""A throwaway single-node SLURM cluster for tests (munged + slurmctld + slurmd).

Installs nothing: it needs the Debian ``slurm-wlm`` and ``munge`` packages and
root. Two traps of the Snakemake SLURM executor plugin shape it
(docs/cluster.md, "Two SLURM traps"):

1. Accounting is disabled (no slurmdbd), so ``sacct`` fails; the profile uses
   ``slurm-status-command: squeue`` and this cluster sets ``MinJobAge=600`` so
   finished jobs stay visible to ``squeue`` long enough.
2. The plugin deletes every ``SLURM_*`` variable (``SLURM_CONF`` included)
   before the in-job ``srun``, so the config must live at the default path
   ``/etc/slurm/slurm.conf``. An existing file there is backed up and restored.

Usage::

    from slurm_cluster import local_slurm_cluster

    with local_slurm_cluster() as cluster:  # reuses a running cluster
        subprocess.run(["sbatch", "-p", cluster.partition, ...])

Daemons that were already running when a cluster was requested are reused and
left running; only what this module started is stopped, by pidfile, also when
start-up fails half-way. ``.ci/slurm-cluster.sh up|down|status`` wraps the CLI
(``python tests/e2e/slurm_cluster.py up|down|status``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SLURM_CONF = Path("/etc/slurm/slurm.conf")
BACKUP_CONF = Path("/etc/slurm/slurm.conf.benpipe-backup")
MUNGE_RUN_DIR = Path("/run/munge")
MUNGE_PIDFILE = MUNGE_RUN_DIR / "munged.pid"
DEFAULT_CLUSTER_DIR = Path(
    os.environ.get("BENPIPE_SLURM_DIR", "/tmp/benpipe-slurm-cluster")
)
PARTITION = "debug"
MIN_JOB_AGE_S = 600
CONF_MARKER = "# benpipe local test cluster"
REQUIRED_BINARIES = ("munged", "munge", "slurmctld", "slurmd", "sinfo", "sbatch")


class SlurmClusterError(RuntimeError):
    """The local cluster could not be started or stopped."""


@dataclass(frozen=True)
class SlurmCluster:
    """A running local cluster: where its files are and what it offers."""

    cluster_dir: Path
    node: str
    partition: str
    cpus: int
    real_memory_mb: int
    started: tuple[str, ...]  # daemons this process started ("munged", ...)

    @property
    def slurmctld_log(self) -> Path:
        return self.cluster_dir / "slurmctld.log"

    @property
    def slurmd_log(self) -> Path:
        return self.cluster_dir / "slurmd.log"


# ---------------------------------------------------------------- checks
def unavailable_reason() -> str | None:
    """Why a local cluster cannot run here, or None when it can."""
    missing = [name for name in REQUIRED_BINARIES if not _which(name)]
    if missing:
        return (
            f"SLURM/munge binaries not found ({', '.join(missing)}); install "
            "slurm-wlm and munge (apt-get install slurm-wlm) to run SLURM tests"
        )
    if os.geteuid() != 0:
        return "a local SLURM cluster needs root (it starts slurmd and munged)"
    if not Path("/etc/munge/munge.key").exists():
        return "/etc/munge/munge.key is missing; reinstall munge"
    return None


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")


def _pid_alive(pidfile: Path) -> int | None:
    """The pid in ``pidfile`` when that process is alive, else None."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    # a zombie or a recycled pid that is not ours: check the command name
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return None
    return None if state == "Z" else pid


def _run(cmd: list[str], timeout: float = 20, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


def munge_works() -> bool:
    """True when a credential round-trips through munged."""
    if not _which("munge") or not _which("unmunge"):
        return False
    try:
        enc = _run(["munge", "-n"], timeout=5)
        if enc.returncode != 0:
            return False
        dec = _run(["unmunge"], timeout=5, input=enc.stdout)
    except subprocess.TimeoutExpired:
        return False
    return dec.returncode == 0


def node_states() -> list[str]:
    """States of the nodes known to the running controller ([] when none answers)."""
    if not _which("sinfo"):
        return []
    try:
        res = _run(["sinfo", "-h", "-o", "%t"], timeout=10)
    except subprocess.TimeoutExpired:
        return []
    if res.returncode != 0:
        return []
    return [line.strip().rstrip("*~#!%$@^-") for line in res.stdout.splitlines()]


def is_ready() -> bool:
    """True when a controller answers and a node can take jobs."""
    return any(s in ("idle", "mix", "alloc") for s in node_states())


# ---------------------------------------------------------------- config
def host_facts() -> tuple[str, int, int]:
    """(short hostname, CPUs, 90 % of the memory in MB).

    Total, not currently free memory: the figure only feeds SLURM's scheduling
    (no cgroup enforcement here) and must not change between runs.
    """
    node = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    total_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            total_kb = int(line.split()[1])
    return node, cpus, max(500, int(total_kb / 1024 * 0.9))


def render_slurm_conf(
    cluster_dir: Path, node: str, cpus: int, real_memory_mb: int
) -> str:
    """slurm.conf for one node that is controller and compute node at once."""
    d = cluster_dir
    return f"""{CONF_MARKER}: {d}
# Written by tests/e2e/slurm_cluster.py; the previous file (if any) is at
# {BACKUP_CONF} and is restored when the cluster stops.
ClusterName=benpipe-ci
SlurmctldHost={node}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# No slurmdbd: sacct cannot answer, so Snakemake must poll with squeue, and
# finished jobs must stay in slurmctld's memory long enough (trap 1).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge={MIN_JOB_AGE_S}
NodeName={node} CPUs={cpus} RealMemory={real_memory_mb} State=UNKNOWN
PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


def _conf_is_ours() -> bool:
    try:
        return SLURM_CONF.read_text().startswith(CONF_MARKER)
    except OSError:
        return False


def _install_conf(text: str) -> None:
    SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
    if SLURM_CONF.exists() and not _conf_is_ours() and not BACKUP_CONF.exists():
        shutil.copy2(SLURM_CONF, BACKUP_CONF)
    tmp = SLURM_CONF.with_name(SLURM_CONF.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, SLURM_CONF)


def _restore_conf() -> None:
    if BACKUP_CONF.exists():
        os.replace(BACKUP_CONF, SLURM_CONF)
    elif _conf_is_ours():
        SLURM_CONF.unlink()


# ---------------------------------------------------------------- daemons
def _owned_file(cluster_dir: Path) -> Path:
    return cluster_dir / "started-by-benpipe.json"


def _read_owned(cluster_dir: Path) -> list[str]:
    try:
        return list(json.loads(_owned_file(cluster_dir).read_text()))
    except (OSError, ValueError):
        return []


def _write_owned(cluster_dir: Path, owned: list[str]) -> None:
    path = _owned_file(cluster_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(sorted(set(owned))))
    os.replace(tmp, path)


def _pidfiles(cluster_dir: Path) -> dict[str, Path]:
    return {
        "slurmd": cluster_dir / "slurmd.pid",
        "slurmctld": cluster_dir / "slurmctld.pid",
        "munged": MUNGE_PIDFILE,
    }


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def _start_munged() -> bool:
    """Start munged unless it already works; True when this call started it."""
    if munge_works():
        return False
    subprocess.run(
        [
            "install",
            "-d",
            "-o",
            "munge",
            "-g",
            "munge",
            "-m",
            "755",
            str(MUNGE_RUN_DIR),
        ],
        check=True,
    )
    res = _run(["runuser", "-u", "munge", "--", _which("munged") or "munged"])
    for _ in range(50):
        if munge_works():
            return True
        time.sleep(0.1)
    raise SlurmClusterError(
        f"munged did not start (exit {res.returncode}): {res.stderr.strip()}; "
        "check /var/log/munge/munged.log"
    )


def _start_daemon(name: str, cluster_dir: Path) -> None:
    pidfile = _pidfiles(cluster_dir)[name]
    res = _run([_which(name) or name])
    if res.returncode != 0:
        raise SlurmClusterError(
            f"{name} exited with {res.returncode}: {res.stderr.strip()}\n"
            f"{_tail(cluster_dir / f'{name}.log')}"
        )
    for _ in range(50):
        if _pid_alive(pidfile):
            return
        time.sleep(0.1)
    raise SlurmClusterError(
        f"{name} wrote no live pid to {pidfile}; its log says:\n"
        f"{_tail(cluster_dir / f'{name}.log')}"
    )


def _stop_pid(name: str, pidfile: Path, timeout_s: float = 15) -> None:
    pid = _pid_alive(pidfile)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _pid_alive(pidfile) is None:
            return
        time.sleep(0.1)
    log.warning("%s (pid %d) ignored SIGTERM; sending SIGKILL", name, pid)
    os.kill(pid, signal.SIGKILL)


def start(
    cluster_dir: Path = DEFAULT_CLUSTER_DIR, timeout_s: float = 30
) -> SlurmCluster:
    """Start (or reuse) the local cluster and wait until its node is idle.

    Safe to call when it is already running: running daemons are reused, and
    only daemons started by this call are listed in ``SlurmCluster.started``.
    On failure everything this call started is stopped again.
    """
    reason = unavailable_reason()
    if reason:
        raise SlurmClusterError(reason)
    cluster_dir = Path(cluster_dir).resolve()
    node, cpus, mem = host_facts()

    if is_ready() and munge_works():
        log.info("reusing the running SLURM cluster (%s)", SLURM_CONF)
        return _describe(cluster_dir, node, cpus, mem, started=())

    started: list[str] = []
    try:
        if _start_munged():
            started.append("munged")
        cluster_dir.mkdir(parents=True, exist_ok=True)
        pids = _pidfiles(cluster_dir)
        ctld_up = _pid_alive(pids["slurmctld"]) is not None
        slurmd_up = _pid_alive(pids["slurmd"]) is not None
        if not (ctld_up or slurmd_up):
            for sub in ("state", "spool"):
                shutil.rmtree(cluster_dir / sub, ignore_errors=True)
                (cluster_dir / sub).mkdir(parents=True)
            _install_conf(render_slurm_conf(cluster_dir, node, cpus, mem))
        if not ctld_up:
            _start_daemon("slurmctld", cluster_dir)
            started.append("slurmctld")
        if not slurmd_up:
            _start_daemon("slurmd", cluster_dir)
            started.append("slurmd")
        _write_owned(cluster_dir, _read_owned(cluster_dir) + started)
        deadline = time.monotonic() + timeout_s
        while not is_ready():
            if time.monotonic() > deadline:
                raise SlurmClusterError(
                    f"node {node} not idle after {timeout_s:.0f} s "
                    f"(sinfo states: {node_states()}); slurmctld log:\n"
                    f"{_tail(cluster_dir / 'slurmctld.log')}\nslurmd log:\n"
                    f"{_tail(cluster_dir / 'slurmd.log')}"
                )
            time.sleep(0.5)
    except BaseException:
        _stop(cluster_dir, started)
        raise
    return _describe(cluster_dir, node, cpus, mem, started=tuple(started))


def _describe(
    cluster_dir: Path, node: str, cpus: int, mem: int, started: tuple[str, ...]
) -> SlurmCluster:
    """Facts of the running cluster, read back from slurm.conf when possible."""
    try:
        for line in SLURM_CONF.read_text().splitlines():
            if line.startswith("NodeName="):
                fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
                node = fields.get("NodeName", node)
                cpus = int(fields.get("CPUs", cpus))
                mem = int(fields.get("RealMemory", mem))
            elif line.startswith("SlurmctldPidFile="):
                cluster_dir = Path(line.split("=", 1)[1]).parent
    except OSError:
        pass
    return SlurmCluster(cluster_dir, node, PARTITION, cpus, mem, started)


def _cancel_all_jobs() -> None:
    """Cancel every job left in the (private) cluster, e.g. by a killed run."""
    if not _which("squeue") or not _which("scancel"):
        return
    try:
        res = _run(["squeue", "-h", "-o", "%i", "--states=PENDING,RUNNING"], timeout=10)
        job_ids = res.stdout.split() if res.returncode == 0 else []
        if job_ids:
            log.warning("cancelling leftover SLURM jobs: %s", " ".join(job_ids))
            _run(["scancel", *job_ids], timeout=10)
    except subprocess.TimeoutExpired:
        log.warning("squeue/scancel did not answer; stopping the daemons anyway")


def _stop(cluster_dir: Path, names: list[str] | tuple[str, ...]) -> None:
    pids = _pidfiles(cluster_dir)
    if "slurmctld" in names and _pid_alive(pids["slurmctld"]):
        _cancel_all_jobs()
    # compute node first, then controller, then authentication
    for name in ("slurmd", "slurmctld", "munged"):
        if name in names:
            _stop_pid(name, pids[name])
    if "slurmctld" in names:
        _restore_conf()
    remaining = [n for n in _read_owned(cluster_dir) if n not in names]
    if _owned_file(cluster_dir).parent.is_dir():
        _write_owned(cluster_dir, remaining)


def stop(cluster: SlurmCluster) -> None:
    """Stop the daemons that ``start`` started (nothing when it reused them)."""
    _stop(cluster.cluster_dir, cluster.started)


def stop_all(cluster_dir: Path = DEFAULT_CLUSTER_DIR) -> list[str]:
    """Stop every daemon that any ``start`` recorded in ``cluster_dir``."""
    cluster_dir = Path(cluster_dir).resolve()
    owned = _read_owned(cluster_dir)
    _stop(cluster_dir, owned)
    return owned


def status(cluster_dir: Path = DEFAULT_CLUSTER_DIR) -> dict[str, object]:
    """What runs: daemon pids, node states, whose slurm.conf is installed."""
    cluster_dir = Path(cluster_dir).resolve()
    pids = _pidfiles(cluster_dir)
    return {
        "cluster_dir": str(cluster_dir),
        "slurm_conf": str(SLURM_CONF),
        "slurm_conf_is_benpipe": _conf_is_ours(),
        "pids": {name: _pid_alive(path) for name, path in pids.items()},
        "munge_works": munge_works(),
        "node_states": node_states(),
        "ready": is_ready(),
        "started_by_benpipe": _read_owned(cluster_dir),
    }


@contextmanager
def local_slurm_cluster(
    cluster_dir: Path = DEFAULT_CLUSTER_DIR, timeout_s: float = 30
) -> Iterator[SlurmCluster]:
    """Context manager: a ready cluster inside, stopped afterwards if started here."""
    cluster = start(cluster_dir, timeout_s=timeout_s)
    try:
        yield cluster
    finally:
        stop(cluster)


# ---------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "status"
    cluster_dir = Path(args[1]) if len(args) > 1 else DEFAULT_CLUSTER_DIR
    try:
        if command == "up":
            cluster = start(cluster_dir)
            print(json.dumps(asdict(cluster), default=str, indent=2))
        elif command == "down":
            stopped = stop_all(cluster_dir)
            print(f"stopped: {', '.join(stopped) or 'nothing (none started here)'}")
        elif command == "status":
            info = status(cluster_dir)
            print(json.dumps(info, indent=2))
            return 0 if info["ready"] else 3
        else:
            print(
                "usage: slurm_cluster.py up|down|status [cluster_dir]", file=sys.stderr
            )
            return 2
    except SlurmClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
