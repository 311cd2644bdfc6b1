"""The CPU share this process may use, to size its threads and processes by.

``os.cpu_count()`` counts the machine's cores, not the ones the process gets: a container with a
CPU limit of 2 on a 64-core node that starts 64 OCR engines or 64 PyTorch threads spends its
quota on threads that wait for each other (even 2 PyTorch threads on a 2-core machine that other
work kept busy made a plates training spend 6 times the CPU of one thread). What the process may
use is the least of its CPU affinity and its cgroup's CPU quota (cgroup v2 ``cpu.max``, v1
``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``), on its own cgroup and every one above it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
V1_CPU_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def usable_cores(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """The cores this process may keep busy: its affinity, capped by its cgroup's CPU quota
    rounded up (a quota of 1.5 cores keeps two threads busy part of the time), at least 1."""
    cores = affinity_cores()
    quota = cgroup_cpu_quota(root, proc_cgroup)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def affinity_cores() -> int:
    """The cores the scheduler may run this process on (all of them where it cannot tell)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cgroup_cpu_quota(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The tightest CPU quota, in cores, of this process's cgroup and its ancestors under
    ``root`` (v2, else v1); None when none is set or none can be read."""
    paths = _cgroup_paths(proc_cgroup)
    quotas = [q for d in _ancestors(root, paths.get("", "/")) if (q := _v2_quota(d)) is not None]
    if not quotas:
        for mount in V1_CPU_MOUNTS:
            folders = _ancestors(root / mount, paths.get("cpu", "/"))
            quotas += [q for d in folders if (q := _v1_quota(d)) is not None]
    return min(quotas, default=None)


def limit_torch_threads(wanted: int) -> int:
    """Set PyTorch's CPU threads in this process to ``wanted`` (0: ``usable_cores()``), never
    more than ``usable_cores()``; returns them. PyTorch's own default counts the cores of the
    affinity, never the cgroup quota. Imports torch: only training calls it."""
    import torch

    threads = min(wanted, usable_cores()) if wanted > 0 else usable_cores()
    torch.set_num_threads(threads)
    return threads


def _cgroup_paths(proc_cgroup: Path) -> dict[str, str]:
    """The process's cgroup path by controller: "" for v2's unified line, "cpu" for v1's."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return {}
    paths = {}
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":
            paths[""] = path
        elif "cpu" in controllers.split(","):
            paths["cpu"] = path
    return paths


def _ancestors(base: Path, path: str) -> Iterator[Path]:
    """``base``/``path`` and each folder above it up to ``base`` (a container sees its own
    cgroup at ``base``, a systemd service a nested one)."""
    parts = [p for p in path.split("/") if p and p not in (".", "..")]
    for n in range(len(parts), -1, -1):
        yield base.joinpath(*parts[:n])


def _v2_quota(folder: Path) -> float | None:
    """``cpu.max`` ("max 100000" or "200000 100000") as cores; None where unlimited or absent."""
    try:
        quota, period = (folder / "cpu.max").read_text().split()[:2]
        return int(quota) / int(period) if quota != "max" and int(period) > 0 else None
    except (OSError, ValueError):
        return None


def _v1_quota(folder: Path) -> float | None:
    """``cpu.cfs_quota_us`` over ``cpu.cfs_period_us`` as cores; None where -1 or absent."""
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None
