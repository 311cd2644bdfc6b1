"""Machines of a test's own: network namespaces on a private bridge, a PostgreSQL server of the
test's own on that bridge, docloop processes started in a namespace, and the waits the
multi-process tests share. Everything made here is torn down on the way out, even on failure."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from docloop.ml.checkpoints import StoreCheckpoints
from docloop.storage import BlobStore

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, what: str) -> T:
    """``condition()``'s first truthy value, polled; the test fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def saved_epochs(store: BlobStore) -> dict[int, int]:
    """The epochs the trainings in ``store`` have saved: network member to its last epoch."""
    found: dict[int, int] = {}
    for key in {name.split("/")[1] for name in store.list_named("train")}:
        with contextlib.suppress(OSError, RuntimeError, EOFError):  # replaced while being read
            found.update(StoreCheckpoints(store, f"train/{key}").epochs())
    return found


def free_port(host: str) -> int:
    """A TCP port nothing listens on at ``host`` now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def skip_without_namespaces() -> None:
    """Skip, saying why, where this process cannot make network namespaces."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (.ci/run runs as root)")
    if shutil.which("ip") is None:
        pytest.skip("network namespaces need the `ip` command (iproute2)")


def _ip(*args: str) -> None:
    """One ``ip`` command; ``CalledProcessError`` (with its stderr) when it fails."""
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.0.0.0/8 that no address or route of this machine overlaps."""
    used = subprocess.run(
        ["ip", "-4", "-o", "route", "show", "table", "all"],
        capture_output=True, text=True, check=True,
    ).stdout + subprocess.run(
        ["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True
    ).stdout  # fmt: skip
    taken = []
    for word in used.split():
        with contextlib.suppress(ValueError):
            taken.append(ipaddress.ip_interface(word).network)
    for _ in range(100):
        subnet = ipaddress.ip_network(
            f"10.{random.randint(100, 254)}.{random.randint(0, 255)}.0/24"
        )
        if not any(t.version == 4 and subnet.overlaps(t) for t in taken):
            return subnet
    pytest.fail("found no free private /24 for the test's network")


@dataclass
class Network:
    """A bridge on this machine (its address is ``gateway``) and one namespace per host."""

    tag: str
    subnet: ipaddress.IPv4Network
    namespaces: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)

    @property
    def gateway(self) -> str:
        return str(self.subnet.network_address + 1)

    @property
    def bridge(self) -> str:
        return f"dlb{self.tag}"

    def add_host(self, name: str) -> str:
        """A namespace joined to the bridge by a veth pair; its address."""
        index = len(self.namespaces)
        namespace, outside, inside = (
            f"docloop-{self.tag}-{name}",
            f"dlh{self.tag}{index}",
            f"dln{self.tag}{index}",
        )
        address = str(self.subnet.network_address + 2 + index)
        _ip("netns", "add", namespace)
        self.namespaces[name] = namespace
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", namespace)
        _ip("link", "set", outside, "master", self.bridge, "up")
        for args in (
            ("addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", inside),
            ("link", "set", inside, "up"),
            ("link", "set", "lo", "up"),
        ):
            _ip("-n", namespace, *args)
        self.addresses[name] = address
        return address


@contextlib.contextmanager
def private_network() -> Iterator[Network]:
    """A bridge with a private /24; namespaces added to it go with it at the end."""
    network = Network(uuid.uuid4().hex[:6], _free_subnet())
    try:
        _ip("link", "add", network.bridge, "type", "bridge")
        _ip("addr", "add", f"{network.gateway}/{network.subnet.prefixlen}", "dev", network.bridge)
        _ip("link", "set", network.bridge, "up")
    except subprocess.CalledProcessError as exc:
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", network.bridge)
        pytest.skip(f"cannot make a bridge for the test's hosts: {exc.stderr.decode().strip()}")
    try:
        yield network
    finally:
        for namespace in network.namespaces.values():  # the veth pairs go with them
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", namespace)
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", network.bridge)


def _postgres_tool(name: str) -> str | None:
    """``name`` on the PATH, or in Debian's versioned PostgreSQL folder (not on the PATH)."""
    return shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )


def _postgres(args: list[str], what: str, timeout: float) -> None:
    """A PostgreSQL command as the ``postgres`` user; the test fails with its output."""
    done = subprocess.run(
        ["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"{what} failed ({done.returncode}): {done.stdout}{done.stderr}")


@contextlib.contextmanager
def private_postgres(network: Network) -> Iterator[str]:
    """A PostgreSQL server of the test's own on the bridge address, trusting the namespaces.

    ``initdb`` refuses to run as root, so the server runs as the ``postgres`` user."""
    initdb, pg_ctl = _postgres_tool("initdb"), _postgres_tool("pg_ctl")
    if initdb is None or pg_ctl is None or shutil.which("runuser") is None:
        pytest.skip("a private PostgreSQL needs initdb, pg_ctl (PostgreSQL) and runuser")
    data = Path(tempfile.mkdtemp(prefix="docloop-scale-pg-"))
    try:
        shutil.chown(data, "postgres", "postgres")
    except LookupError:
        shutil.rmtree(data)
        pytest.skip("a private PostgreSQL runs as the `postgres` user, and there is none")
    port = free_port(network.gateway)
    try:
        _postgres([initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
                  "initdb", 120)  # fmt: skip
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {network.subnet} trust\n")
        options = (
            f"-c listen_addresses={network.gateway} -p {port} -k {data} -c fsync=off "
            "-c synchronous_commit=off -c max_connections=200"
        )
        _postgres([pg_ctl, "-D", str(data), "-l", str(data / "server.log"), "-w", "-t", "60",
                   "-o", options, "start"], "pg_ctl start", 90)  # fmt: skip
        yield f"postgresql://postgres@{network.gateway}:{port}/postgres"
    finally:
        try:
            subprocess.run(
                ["runuser", "-u", "postgres", "--", pg_ctl, "-D", str(data), "-m", "immediate",
                 "stop"],
                capture_output=True, timeout=60, check=False,
            )  # fmt: skip
        finally:
            shutil.rmtree(data, ignore_errors=True)


def start_in(
    namespace: str, args: list[str], env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """``python -m docloop.cli ARGS`` in ``namespace``, in a process group of its own (so that
    the whole host, OCR child processes included, can be killed at once); output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-m", "docloop.cli", *args],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def kill_host(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the process and its children, as when a machine dies; waits for the end."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)
