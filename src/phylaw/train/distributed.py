"""Process-group helpers: one process (CPU/GPU) or many under ``torchrun`` (DDP). Rank 0 does the I/O."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from phylaw.errors import PhylawError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> cuda:<local_rank> when CUDA is available, else cpu; otherwise the named device."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PhylawError(f"runtime.device={name!r} but CUDA is not available")
    if name == "cuda":
        return torch.device(f"cuda:{local_rank}")
    try:
        return torch.device(name)
    except RuntimeError:
        raise PhylawError(
            f"runtime.device={name!r} is not a torch device (auto, cpu, cuda, cuda:N, ...)"
        ) from None


# torch's messages when deterministic mode meets an op without a deterministic kernel (or cuBLAS unconfigured)
NONDETERMINISTIC_HINTS = ("does not have a deterministic implementation", "CUBLAS_WORKSPACE_CONFIG")


def use_deterministic_kernels(dev: torch.device, deterministic: bool = True) -> None:
    """On CUDA, ask for deterministic kernels (same config and seed, same bytes): cuBLAS with a fixed workspace,
    no cuDNN autotuning, ``torch.use_deterministic_algorithms(True)``, and attention through the flash kernel
    (whose backward then runs its deterministic variant) or the math path only. Not ``warn_only``: with it,
    torch only warns and keeps the flash and cuDNN attention backwards non-deterministic (seen on an H200:
    "cuDNN Attention defaults to a non-deterministic algorithm"). An op with no deterministic kernel then
    raises; the trainers turn that into a one-line error that names ``runtime.deterministic=false``. CPU
    kernels are deterministic already. ``deterministic=False`` leaves torch's faster defaults."""
    if dev.type != "cuda" or not deterministic:
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.enable_cudnn_sdp(False)  # no deterministic backward
    torch.backends.cuda.enable_mem_efficient_sdp(False)


@contextlib.contextmanager
def deterministic_errors_as_phylaw() -> Iterator[None]:
    """Turn torch's "... does not have a deterministic implementation" RuntimeError into a one-line PhylawError."""
    try:
        yield
    except RuntimeError as exc:
        if not any(hint in str(exc) for hint in NONDETERMINISTIC_HINTS):
            raise
        first = str(exc).splitlines()[0]
        raise PhylawError(
            f"{first} (runtime.deterministic=true asks for deterministic CUDA kernels; "
            "set runtime.deterministic=false, or for the demo --set deterministic=False, to run with torch's "
            "non-deterministic ones)"
        ) from None


LAUNCHER_GONE = threading.Event()


def die_with_launcher() -> None:
    """A rank started by ``phylaw reproduce``/``demo`` on this machine (``PHYLAW_LAUNCHER_PID`` set) asks Linux
    for a SIGHUP when its launcher dies, even by SIGKILL (``prctl(PR_SET_PDEATHSIG)``). The SIGHUP only sets
    :data:`LAUNCHER_GONE`, which :class:`StopSignal` treats as a stop request: the trainer checkpoints and exits
    instead of training on alone. (Not SIGTERM: a multi-threaded launcher's death delivers the signal once per
    exiting thread, and a second SIGTERM means "stop now".)"""
    launcher = os.environ.get("PHYLAW_LAUNCHER_PID")
    if not launcher or not sys.platform.startswith("linux"):
        return
    import ctypes

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGHUP, lambda *_: LAUNCHER_GONE.set())
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGHUP))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # no prctl: the launcher's own interrupt handling still applies
        return
    if os.getppid() != int(launcher):  # it died before prctl took effect
        LAUNCHER_GONE.set()


def init(device: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1), else a single process.

    Backend: NCCL on CUDA, gloo on CPU. Called inside the entry points, never at import; each entry point then
    calls :func:`use_deterministic_kernels` with its run's ``runtime.deterministic``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    die_with_launcher()
    if world > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    if world > 1:
        rank, world = dist.get_rank(), dist.get_world_size()
        if rank != 0:  # rank 0 does the talking (STYLE rule 20)
            logging.getLogger("phylaw").setLevel(logging.WARNING)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev)


@contextlib.contextmanager
def cpu_threads(n: int) -> Iterator[None]:
    """Use ``n`` torch intra-op threads inside the block (0: leave torch's setting), restored afterwards."""
    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def all_reduce_mean(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Mean of a small float tensor over ranks (identity on one process)."""
    if not info.distributed:
        return values
    out = values.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / info.world_size


def broadcast_flag(flag: bool, info: DistInfo) -> bool:
    """Rank 0's boolean on every rank."""
    if not info.distributed:
        return flag
    t = torch.tensor([1 if flag else 0], device=info.device if info.device.type == "cuda" else "cpu")
    dist.broadcast(t, src=0)
    return bool(t.item())


class StopSignal:
    """SIGTERM / SIGINT set ``requested`` instead of killing the process, so the training loop can finish the
    current step, write a checkpoint and stop (preemption-safe). Handlers are installed only from the main
    thread and restored by :meth:`restore`; a second signal falls through to the previous handler."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self._requested = False
        self._previous: dict[int, object] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)

    @property
    def requested(self) -> bool:
        """A signal arrived, or the launcher of this rank died (:func:`die_with_launcher`)."""
        if LAUNCHER_GONE.is_set() and not self._requested:
            self._requested = True
            log.warning(
                "the process that started this rank has exited: stopping after this step (checkpoint first)"
            )
        return self._requested

    def _handle(self, signum: int, frame: object) -> None:
        if self._requested:  # second signal: behave as before (KeyboardInterrupt / termination at once)
            previous = self._previous.get(signum)
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            return
        self._requested = True
        log.warning("signal %d: stopping after this step (checkpoint first)", signum)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous = {}
