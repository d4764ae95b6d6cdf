"""Fig. 5 of the paper (SPEC B.6.1, E.5): uniform motion trained with a gap in its speeds. Does the model
interpolate into the gap, or do its generated speeds snap to the seen bands?

Cells (factors scenario, study, setting, model, data_size), one per gap setting of ``sim.studies.GAP_SETTINGS``
(the removed bands [1.25, 3.75], [1.5, 3.5], [1.75, 3.25], [2.0, 3.0]; the reintroduced ranges n = 3, n = 4),
every training set the same size at a scale (the paper's "200K each"):

- ``paper``: the 6 settings, 200,000 videos each, DiT-B, 128 px, 32 frames, 100K steps x 256 (torchrun);
  evaluation ``<setting>-eval`` (36 r x 120 v over [1, 4]).
- ``small``: the 6 settings, 20,000 videos each, Fig. 3's one-GPU settings (DiT-S, 64 px, 20K steps).
- ``tiny``: 3 settings (the widest gap, the narrowest, n = 3), 2,000 videos each, 2 CPU cores
  (``study.tiny_base``), evaluation ``<setting>-eval-small`` (4 r x 30 v: 120 videos).

Report: generated vs conditioning speed per setting with the bands shaded; the fractions of in-gap test videos
whose generated speed lands in the gap / in a seen band / outside [1, 4] (Wilson CIs, ground-truth floor);
the case-vs-law index; GIFs.
"""

from __future__ import annotations

from phylaw.experiments import study as s
from phylaw.experiments.experiment import Experiment, ExperimentPlan, ReportSection
from phylaw.sim.studies import GAP_SETTINGS

TINY_SETTINGS = ("gap-1.25-3.75", "gap-2.0-3.0", "gap-n3")


def fig5(scale: str) -> ExperimentPlan:
    settings = TINY_SETTINGS if scale == "tiny" else tuple(GAP_SETTINGS)
    cells = [s.study_cell("fig5", scale, "gap", g, g + s.TRAIN_SUFFIX[scale], g + s.EVAL_SUFFIX[scale], "uniform_motion")
             for g in settings]  # fmt: skip
    return s.plan(
        "fig5", scale, cells, f"Fig. 5: uniform motion with gaps in the training speeds ({len(cells)} cells)."
    )


EXPERIMENT = Experiment(
    "fig5", s.FACTORS, fig5, pipeline=s.pipeline,
    report=ReportSection("Velocity error", figures=("training_curves", "error_distribution")),
)  # fmt: skip
