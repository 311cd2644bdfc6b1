"""The CPU share sizes threads by the process's affinity and cgroup quota, not the machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from docloop import cpu_share


@pytest.fixture
def node_of_64(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process allowed on every core of a 64-core node."""
    monkeypatch.setattr(cpu_share, "affinity_cores", lambda: 64)


def _v2(root: Path, cpu_max: str, folder: str = "") -> None:
    (root / folder).mkdir(parents=True, exist_ok=True)
    (root / folder / "cpu.max").write_text(cpu_max + "\n")


def _v1(root: Path, quota: int, period: int = 100000, folder: str = "") -> None:
    path = root / "cpu,cpuacct" / folder
    path.mkdir(parents=True, exist_ok=True)
    (path / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (path / "cpu.cfs_period_us").write_text(f"{period}\n")


def _proc(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "proc-self-cgroup"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("cpu_max", "cores"),
    [("max 100000", 64), ("200000 100000", 2), ("150000 100000", 2), ("50000 100000", 1)],
)
def test_a_v2_quota_caps_the_cores_rounded_up(
    tmp_path: Path, node_of_64: None, cpu_max: str, cores: int
) -> None:
    _v2(tmp_path, cpu_max)
    proc = _proc(tmp_path, "0::/\n")
    assert cpu_share.usable_cores(tmp_path, proc) == cores


def test_the_v2_quota_of_a_nested_cgroup_or_its_parent_counts(
    tmp_path: Path, node_of_64: None
) -> None:
    _v2(tmp_path, "400000 100000", "system.slice")
    _v2(tmp_path, "max 100000", "system.slice/docloop.service")
    proc = _proc(tmp_path, "0::/system.slice/docloop.service\n")
    assert cpu_share.cgroup_cpu_quota(tmp_path, proc) == 4.0
    _v2(tmp_path, "300000 100000", "system.slice/docloop.service")
    assert cpu_share.usable_cores(tmp_path, proc) == 3


def test_a_v1_quota_caps_the_cores(tmp_path: Path, node_of_64: None) -> None:
    _v1(tmp_path, 250000)
    proc = _proc(tmp_path, "4:memory:/\n3:cpu,cpuacct:/\n0::/\n")
    assert cpu_share.cgroup_cpu_quota(tmp_path, proc) == 2.5
    assert cpu_share.usable_cores(tmp_path, proc) == 3


def test_v1_without_a_quota_leaves_the_affinity(tmp_path: Path, node_of_64: None) -> None:
    _v1(tmp_path, -1)
    proc = _proc(tmp_path, "3:cpu,cpuacct:/\n")
    assert cpu_share.cgroup_cpu_quota(tmp_path, proc) is None
    assert cpu_share.usable_cores(tmp_path, proc) == 64


def test_missing_or_unreadable_files_leave_the_affinity(tmp_path: Path, node_of_64: None) -> None:
    assert cpu_share.usable_cores(tmp_path / "absent", tmp_path / "absent-proc") == 64
    _v2(tmp_path, "garbage")
    assert cpu_share.usable_cores(tmp_path, _proc(tmp_path, "0::/\n")) == 64


def test_the_affinity_caps_a_larger_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_share, "affinity_cores", lambda: 2)
    _v2(tmp_path, "800000 100000")
    assert cpu_share.usable_cores(tmp_path, _proc(tmp_path, "0::/\n")) == 2


def test_this_machine_gives_at_least_one_core_and_no_more_than_it_has() -> None:
    assert 1 <= cpu_share.usable_cores() <= (os.cpu_count() or 1)


def test_training_threads_are_the_setting_capped_by_the_cpu_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(cpu_share, "usable_cores", lambda: 2)
    try:
        assert cpu_share.limit_torch_threads(1) == 1 == torch.get_num_threads()
        assert cpu_share.limit_torch_threads(0) == 2 == torch.get_num_threads()
        assert cpu_share.limit_torch_threads(8) == 2 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
