"""Run by ``torchrun`` in test_ddp.py on every rank.

ddp_worker.py train RUN_DIR OVERRIDES...        train_dit with the cpu-tiny preset + overrides
ddp_worker.py sample RUN_DIR DATA OUT LIMIT     sample_dataset, 2 DDIM steps, batch size 2
"""

from __future__ import annotations

import sys

import torch

from phylaw.config import load_config
from phylaw.train.sampling import sample_dataset
from phylaw.train.trainer import train_dit

if __name__ == "__main__":
    torch.set_num_threads(1)
    mode, run = sys.argv[1], sys.argv[2]
    if mode == "train":
        train_dit(load_config("cpu-tiny", sys.argv[3:]), run, progress=False)
    else:
        data, out, limit = sys.argv[3], sys.argv[4], int(sys.argv[5])
        sample_dataset(run, data, out, steps=2, limit=limit, batch_size=2, device="cpu", progress=False)
