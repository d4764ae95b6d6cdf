"""Training throughput of phylaw's VideoDiT against a textbook reference DiT at equal model FLOPs.

One training step = training_loss (noise through diffusers' DDPMScheduler, v target, masked MSE) forward +
backward + AdamW step, fp32 on CPU with ``torch.set_num_threads(threads)``. The reference is the DiT of
Peebles & Xie written the textbook way: fixed 3D sincos absolute position embedding, separate q/k/v
projections, attention as explicit softmax(QKᵀ/√d)V, and per-block adaLN-Zero modulation MLPs
(SiLU -> Linear(d, 6d) in every block). Same depth, width, heads, patch and tokens, so the model FLOPs match
(both are counted with ``FlopCounterMode`` for one sample, forward + backward). Run:

    .venv/bin/python benchmarks/train.py                     # tiny preset and DiT-S, 2 threads
    .venv/bin/python benchmarks/train.py --threads 1 --clock cpu  # CPU time: robust on a loaded machine
    .venv/bin/python benchmarks/train.py --compile           # also time torch.compile (off by default)
    .venv/bin/python benchmarks/train.py --amdahl            # + share of each step spent in GEMM kernels

``--amdahl`` profiles a few steps of each model (torch.profiler, CPU) and prints the fraction of step time spent
in matrix-multiply kernels (mm, addmm, bmm and the fused attention kernels). At equal model FLOPs, no
implementation running its GEMMs at the same speed can beat the reference by more than 1 / (its GEMM share),
even if everything else cost nothing: the ``bound`` column.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from phylaw.diffusion import make_condition, make_train_scheduler, training_loss
from phylaw.models.dit import DiTConfig, flop_counter, model_flops_per_sample
from phylaw.models.layers import TimestepEmbedder, modulate, patchify, unpatchify
from phylaw.models.presets import build_dit, count_parameters


def sincos_pos_embed(grid: tuple[int, int, int], dim: int) -> Tensor:
    """Fixed 3D sincos absolute position embedding (N, d): dim/3-ish channels per axis (DiT's 2D, extended)."""
    per_axis = 2 * (dim // 6)
    parts = []
    gt, gh, gw = grid
    coords = torch.stack(
        torch.meshgrid(torch.arange(gt), torch.arange(gh), torch.arange(gw), indexing="ij"), dim=-1
    ).reshape(-1, 3)  # (N, 3)
    for axis in range(3):
        omega = 1.0 / 10000 ** (torch.arange(per_axis // 2, dtype=torch.float64) / (per_axis // 2))
        out = coords[:, axis, None].double() * omega[None]  # (N, per_axis/2)
        parts += [out.sin(), out.cos()]
    emb = torch.cat(parts, dim=1)  # (N, 3·per_axis)
    return F.pad(emb, (0, dim - emb.shape[1])).float()  # (N, d)


class RefAttention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads, self.hd = heads, d // heads
        self.q, self.k, self.v, self.proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        q = self.q(x).reshape(b, n, self.heads, self.hd).transpose(1, 2)  # (B, nh, N, hd)
        k = self.k(x).reshape(b, n, self.heads, self.hd).transpose(1, 2)  # (B, nh, N, hd)
        v = self.v(x).reshape(b, n, self.heads, self.hd).transpose(1, 2)  # (B, nh, N, hd)
        attn = (q @ k.transpose(-2, -1)) / math.sqrt(self.hd)  # (B, nh, N, N)
        out = attn.softmax(dim=-1) @ v  # (B, nh, N, hd)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))  # (B, N, d)


class RefBlock(nn.Module):
    def __init__(self, d: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = RefAttention(d, heads)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        h = int(d * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, h), nn.GELU(approximate="tanh"), nn.Linear(h, d))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))  # per-block adaLN-Zero

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        sa, sca, ga, sm, scm, gm = self.adaLN_modulation(c)[:, None].chunk(6, dim=-1)  # 6 x (B, 1, d)
        x = x + ga * self.attn(modulate(self.norm1(x), sa, sca))  # (B, N, d)
        return x + gm * self.mlp(modulate(self.norm2(x), sm, scm))  # (B, N, d)


class ReferenceDiT(nn.Module):
    """Textbook DiT with phylaw's input/output convention (x_t ‖ cond ‖ mask in, v out)."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, voxels = cfg.hidden_size, cfg.patch_t * cfg.patch_size**2
        self.x_embedder = nn.Linear(cfg.in_channels * voxels, d)
        self.register_buffer("pos_embed", sincos_pos_embed(cfg.grid, d), persistent=False)
        self.t_embedder = TimestepEmbedder(d)
        self.blocks = nn.ModuleList(RefBlock(d, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_mod = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.final_linear = nn.Linear(d, cfg.latent_channels * voxels)

    def forward(self, x_t: Tensor, timesteps: Tensor, cond: Tensor, mask: Tensor) -> Tensor:
        cfg = self.cfg
        x = torch.cat([x_t, cond, mask], dim=1)  # (B, 2C+1, T, H, W)
        x = self.x_embedder(patchify(x, cfg.patch_t, cfg.patch_size)) + self.pos_embed  # (B, N, d)
        c = self.t_embedder(timesteps)  # (B, d)
        for block in self.blocks:
            x = block(x, c)  # (B, N, d)
        shift, scale = self.final_mod(c)[:, None].chunk(2, dim=-1)  # 2 x (B, 1, d)
        x = self.final_linear(modulate(self.final_norm(x), shift, scale))  # (B, N, pt·p·p·C)
        return unpatchify(x, cfg.latent_channels, cfg.grid, cfg.patch_t, cfg.patch_size)  # (B, C, T, H, W)


def measured_flops(model: nn.Module, cfg: DiTConfig, device: torch.device) -> float:
    """Forward + backward FLOPs of one sample, counted by torch's FlopCounterMode."""
    x0 = torch.zeros(1, cfg.latent_channels, *cfg.input_size, device=device)
    cond, mask = make_condition(x0, 1)
    counter = flop_counter()
    with counter:
        model(x0, torch.tensor([500], device=device), cond, mask).sum().backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


class Trainer:
    """One model's training state: fixed batch, AdamW, generator; ``step()`` returns its time."""

    def __init__(self, model: nn.Module, cfg: DiTConfig, batch: int, clock, device, bf16: bool) -> None:
        self.model, self.sched, self.clock = model, make_train_scheduler(), clock
        self.device, self.bf16 = device, bf16
        g = torch.Generator().manual_seed(0)
        self.x0 = torch.randn(batch, cfg.latent_channels, *cfg.input_size, generator=g).to(device)
        self.cond, self.mask = make_condition(self.x0, 1)
        self.opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
        self.gen = torch.Generator().manual_seed(0)

    def step(self) -> float:
        self._sync()
        start = self.clock()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = training_loss(self.model, self.sched, self.x0, self.cond, self.mask, self.gen)
        self.opt.zero_grad(set_to_none=True)
        out.loss.backward()
        self.opt.step()
        self._sync()
        return self.clock() - start

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def run_case(name: str, preset: str, input_size: tuple[int, int, int], batch: int, args) -> list[dict]:
    """Time the models round-robin (one step each per round), so load changes hit all of them alike."""
    device = torch.device(args.device)
    ours = build_dit(preset, input_size=input_size, device=device)
    cfg = ours.cfg
    torch.manual_seed(0)  # the reference uses torch's default init; weights do not matter for speed
    models = [("reference", ReferenceDiT(cfg).to(device)), ("phylaw", ours)]
    if args.compile:
        compiled = torch.compile(build_dit(preset, input_size=input_size, device=device))
        models.append(("phylaw+compile", compiled))
    flops = [measured_flops(ours if "compile" in label else m, cfg, device) for label, m in models]
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    trainers = [Trainer(m, cfg, batch, clock, device, args.bf16) for _, m in models]
    times: list[list[float]] = [[] for _ in models]
    for i in range(args.warmup + args.steps):
        for trainer, ts in zip(trainers, times, strict=True):
            dt = trainer.step()
            if i >= args.warmup:
                ts.append(dt)
    rows = []
    for (label, model), f, ts in zip(models, flops, times, strict=True):
        sec = min(ts)  # best step: the least disturbed by other processes on a shared machine
        rows.append(
            {
                "case": name,
                "model": label,
                "params": count_parameters(model),
                "tokens": cfg.num_tokens,
                "batch": batch,
                "gflop_per_sample": f / 1e9,
                "samples_s": batch / sec,
                "tokens_s": batch * cfg.num_tokens / sec,
                "gflop_s": f * batch / sec / 1e9,
                "median_samples_s": batch / statistics.median(ts),
                "mfu": model_flops_per_sample(cfg) * batch / sec / (max(args.peak_tflops, 1e-9) * 1e12),
            }
        )
    base = rows[0]["samples_s"]
    for row in rows:
        row["speedup"] = row["samples_s"] / base
    if args.amdahl and device.type == "cpu":
        for row, trainer in zip(rows, trainers, strict=True):
            row["gemm_share"] = gemm_share(trainer)
    rows.append({"case": name, "analytic_gflop": model_flops_per_sample(cfg) / 1e9})
    return rows


GEMM_KERNELS = frozenset({
    "aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm",
    "aten::_scaled_dot_product_flash_attention_for_cpu",
    "aten::_scaled_dot_product_flash_attention_for_cpu_backward",
})  # fmt: skip


def gemm_share(trainer: Trainer, steps: int = 3) -> float:
    """Fraction of a training step's self CPU time spent in GEMM / fused-attention kernels (after 2 warm-ups)."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(2):
        trainer.step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            trainer.step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    return sum(e.self_cpu_time_total for e in events if e.key in GEMM_KERNELS) / max(total, 1e-9)


CASES = {
    "tiny": ("DiT-tiny", (16, 8, 8), 8),  # 256 tokens
    "tiny-1k": ("DiT-tiny", (16, 16, 16), 2),  # 1024 tokens: attention-heavy
    "S-small": ("DiT-S", (8, 8, 8), 4),  # 128 tokens
    "S-512": ("DiT-S", (8, 16, 16), 2),  # 512 tokens
    "S-paper": ("DiT-S", (32, 16, 16), 1),  # 2048 tokens: the paper's 128², 32 frames, 8x VAE, patch 2
    "B-paper": ("DiT-B", (32, 16, 16), 16),  # GPU: --device cuda --bf16 --peak-tflops 989 (H100 SXM)
    "L-paper": ("DiT-L", (32, 16, 16), 8),  # GPU, as B-paper
    "micro": ("DiT-micro", (8, 8, 8), 2),  # smoke test
}
DEFAULT_CASES = "tiny,tiny-1k,S-small,S-paper"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=DEFAULT_CASES, help=f"comma list of {', '.join(CASES)}")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model (best reported)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall time, or process CPU time (with --threads 1: insensitive to other processes' load)",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU); default fp32")
    parser.add_argument(
        "--peak-tflops", type=float, default=0.0, help="device peak (dense) TFLOP/s: adds an MFU column"
    )
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(phylaw model)")
    parser.add_argument("--batch", type=int, default=0, help="batch size for every case (0: each case's own)")
    parser.add_argument(
        "--amdahl", action="store_true", help="CPU: profile the GEMM share of each step and print the bound"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu"
    print(
        f"torch {torch.__version__}, {dev}, {args.threads} threads, {'bf16 autocast' if args.bf16 else 'fp32'}, "
        f"{args.clock} clock, "
        f"best of {args.steps} interleaved steps"
    )
    header = f"{'case':8} {'model':15} {'params':>9} {'tok':>5} {'B':>3} {'GFLOP/smp':>9} "
    header += f"{'smp/s':>7} {'tok/s':>8} {'GFLOP/s':>8} {'speedup':>7} {'median smp/s':>12}"
    print(header)
    for name in args.cases.split(","):
        preset, input_size, batch = CASES[name]
        for row in run_case(name, preset, input_size, args.batch or batch, args):
            if "analytic_gflop" in row:
                print(f"{name:8} analytic 6N·tok + 12L·tok²·d = {row['analytic_gflop']:.3f} GFLOP/sample")
                continue
            print(
                f"{row['case']:8} {row['model']:15} {row['params'] / 1e6:8.2f}M {row['tokens']:5d} "
                f"{row['batch']:3d} {row['gflop_per_sample']:9.3f} {row['samples_s']:7.2f} "
                f"{row['tokens_s']:8.0f} {row['gflop_s']:8.1f} {row['speedup']:6.2f}x "
                f"{row['median_samples_s']:12.2f}"
                + (f" MFU {100 * row['mfu']:.1f}%" if args.peak_tflops > 0 else "")
                + (
                    f" GEMM {100 * row['gemm_share']:.0f}% -> bound {1 / row['gemm_share']:.2f}x"
                    if "gemm_share" in row
                    else ""
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
