"""Starting training ranks: the torchrun command line, local CPU ranks on a free port, and the signal relay.

``launch_training(config_path, run_dir, launch)`` trains one run under several processes: local CPU ranks are
started directly (env:// rendezvous on a free port, so an interrupt reaches them without torchrun's agent
printing tracebacks), anything else through ``torchrun``. ``LaunchOptions`` also carries the run's hardware
choices (``runtime``: training-config overrides such as one thread per CPU rank or bf16 on a CPU with native
bf16). They are applied when the run is launched and recorded beside it, never part of its identity, so the
same cell has the same id on every machine.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phylaw.errors import PhylawError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LaunchOptions:
    """How training is launched: in-process (1 x 1) or under torchrun (several processes / nodes).

    runtime: training-config overrides that are this machine's choices (``(("runtime.threads", 1),)``), applied
    to every cell trained with these options and written to the cell's ``runtime.json``."""

    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str = ""
    runtime: tuple[tuple[str, Any], ...] = ()

    @property
    def torchrun(self) -> bool:
        return self.nproc_per_node > 1 or self.nnodes > 1


def local_cpu_ranks(launch: LaunchOptions) -> bool:
    """Whether the ranks of a distributed run are started directly on this machine (one node, no CUDA: the
    demo's CPU ranks) rather than through torchrun."""
    import torch

    return launch.torchrun and launch.nnodes == 1 and not torch.cuda.is_available()


def train_args(config_path: Path, run_dir: Path, quiet: bool) -> list[str]:
    """What each rank runs after ``python``: ``-m phylaw.cli.main train ...`` on the run's config."""
    return ["-m", "phylaw.cli.main", "train", "--config", str(config_path), "--out", str(run_dir), "--resume",
            *(["--quiet"] if quiet else [])]  # fmt: skip


def torchrun_command(
    launch: LaunchOptions, config_path: Path, run_dir: Path, quiet: bool = True
) -> list[str]:
    """The torchrun command line that trains one run (the same on every node but --node-rank)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nnodes={launch.nnodes}",
           f"--nproc-per-node={launch.nproc_per_node}"]  # fmt: skip
    if launch.nnodes > 1:
        if not launch.rdzv_endpoint:
            raise PhylawError("multi-node training needs --rdzv-endpoint HOST:PORT (node 0's address)")
        cmd += [
            f"--node-rank={launch.node_rank}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint={launch.rdzv_endpoint}",
        ]
    else:
        cmd += ["--standalone"]
    return [*cmd, *train_args(config_path, run_dir, quiet)]


def launch_training(config_path: Path, run_dir: Path, launch: LaunchOptions, *, quiet: bool = True) -> None:
    """Train the run whose config file is ``config_path`` in ``launch``'s processes; wait for them.

    A rank that fails stops the others; an interrupt is relayed (see :func:`wait_interruptible`)."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "8")}
    if local_cpu_ranks(launch):
        procs = start_local_ranks(
            [sys.executable, *train_args(config_path, run_dir, quiet)], launch.nproc_per_node, env
        )
    else:
        cmd = torchrun_command(launch, config_path, run_dir, quiet=quiet)
        log.info("launching: %s", " ".join(cmd))
        procs = [subprocess.Popen(cmd, env=env, start_new_session=True)]
    codes = wait_interruptible(procs)
    if any(codes):
        raise PhylawError(f"distributed training exited with status {max(codes, key=abs)}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_local_ranks(cmd: list[str], n: int, env: dict[str, str]) -> list[subprocess.Popen]:
    """``n`` processes of ``cmd`` on this machine with the environment torchrun would give them."""
    log.info("launching %d local ranks: %s", n, " ".join(cmd))
    port = str(free_port())
    common = {
        **env,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": port,
        "WORLD_SIZE": str(n),
        "LOCAL_WORLD_SIZE": str(n),
    }
    # each rank asks the kernel for a SIGHUP when this process dies, even by SIGKILL (distributed.die_with_launcher)
    common["PHYLAW_LAUNCHER_PID"] = str(os.getpid())
    return [
        subprocess.Popen(cmd, env={**common, "RANK": str(r), "LOCAL_RANK": str(r)}, start_new_session=True)
        for r in range(n)
    ]


def _signal_all(procs: list[subprocess.Popen], signum: int) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signum)


def _stop_after_interrupt(procs: list[subprocess.Popen], grace_s: float) -> None:
    _signal_all(procs, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(0.2)
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def wait_interruptible(procs: list[subprocess.Popen], grace_s: float = 300.0) -> list[int]:
    """Wait for the training processes (their exit codes). A rank that fails makes the others stop (SIGTERM).

    The processes run in their own session, so a Ctrl-C at the terminal reaches only this process; it (or a
    SIGTERM) is passed on as exactly one SIGTERM (a second would stop a rank at once: the trainer's
    preemption path finishes the step and writes a checkpoint first), waited for, and raised as
    KeyboardInterrupt, so the runner marks the cell interrupted and the next run resumes. No rank is left
    running on its own."""
    stop: list[int] = []
    failed = False
    main = threading.current_thread() is threading.main_thread()

    def on_term(signum, frame):  # noqa: ARG001
        stop.append(signum)
        _signal_all(procs, signal.SIGTERM)

    old = signal.signal(signal.SIGTERM, on_term) if main else None
    try:
        try:
            while any(p.poll() is None for p in procs):
                if not failed and any(p.poll() not in (None, 0) for p in procs):
                    failed = True  # the others would wait for it forever: stop them, once
                    _signal_all(procs, signal.SIGTERM)
                time.sleep(0.2)
        except KeyboardInterrupt:
            stop.append(signal.SIGINT)
            _stop_after_interrupt(procs, grace_s)
            raise
    finally:
        if main:
            signal.signal(signal.SIGTERM, old)
    if stop:
        raise KeyboardInterrupt
    return [int(p.returncode) for p in procs]
