"""Run by ``torchrun`` in test_ddp.py: train on this rank (argv: run dir, then config overrides)."""

from __future__ import annotations

import sys

import torch

from phylaw.config import load_config
from phylaw.train.trainer import train_dit

if __name__ == "__main__":
    torch.set_num_threads(1)
    train_dit(load_config("cpu-tiny", sys.argv[2:]), sys.argv[1], progress=False)
