"""Fig. 8 of the paper (SPEC B.6.4, E.5, §5.3) with App. E.2's continuous versions (Fig. 14) and App. E.3's
ring vs ball (Fig. 16): the attribute pairs with shape. Trained on two of the four combinations of a pair,
conditioned on the other two, does the generated object keep its shape or the other attribute?

Pairs (``sim.attribute_studies``): colour–shape (red discs + blue squares trained), size–shape (small discs +
large squares), velocity–shape (slow discs + fast squares), ring–ball (red discs + blue rings). Fig. 9
(``fig9.py``) has the pairs without shape. Cells (factors scenario, study = "attribute", setting, model,
data_size):

- ``paper``: colour–shape, size–shape and velocity–shape in the binary version (§5.3) and the continuous one
  (App. E.2), and ring–ball: 6 cells of 300,000 videos, DiT-B, 128 px, 32 frames, 100K steps x 256
  (torchrun); evaluation ``-eval`` (the release's eval grids; binary: 101 free values per combination).
- ``small``: the same 6 settings, 20,000 videos each, Fig. 3's one-GPU settings (DiT-S, 64 px, 20K steps).
- ``tiny``: 3 cells (colour–shape, size–shape binary, velocity–shape binary), 2,000 videos each, the demo's
  64 px / 16 frames / VideoVAE / DiT-tiny for 3,000 steps on 2 CPU cores (``study.tiny_base``); evaluation
  ``-eval-small`` (32 videos per combination, 128 per cell). Each cell has its own training set and so its own
  VideoVAE: about 20 minutes per cell on an unloaded development machine (estimated from the demo's
  4,500-step run, 28.6 min with its VAE), about an hour for the figure. Measured on the shared machine at a
  load average of 8 (size–shape-bin, 60 DiT and 20 VAE steps): 15 min 15 s, of which latent encoding of the
  2,000 videos 7.4 min, 60 DiT steps 5.1 min (2–5 samples/s), sampling 128 videos 71 s, read-out and report
  6 s; at that load the 3,000-step cell takes hours. Ring–ball and the continuous versions are left to
  ``small`` (a fourth tiny cell would go past the hour with its VAE).

Report (``OUT/attribute_report/``): the counts per test combination with the ground-truth floor of every
decision, the priority matrix of the measured pairs with Wilson intervals and the order it implies, the
Fig. 14-style plots (generated vs conditioning size / speed), GIFs of typical conflicts.
"""

from __future__ import annotations

from phylaw.experiments import attribute_study as a

SETTINGS = {
    "tiny": ("color-shape", "size-shape-bin", "velocity-shape-bin"),
    "small": ("color-shape", "size-shape-bin", "velocity-shape-bin", "size-shape-cont", "velocity-shape-cont",
              "ring-ball"),
}  # fmt: skip
SETTINGS["paper"] = SETTINGS["small"]


EXPERIMENT = a.attribute_experiment("fig8", SETTINGS, "Fig. 8 (+ Figs. 14, 16): attribute pairs with shape")
