"""Fig. 7 of the paper (SPEC B.6.3, E.5): memorisation. Uniform motion trained on v in [2.5, 4.0], left to
right only (Set-1) or with horizontal flips (Set-2, both directions), asked to continue low-speed conditions
v in [1.0, 2.5). Set-1 should generate only positive, too-high speeds; Set-2 sometimes reverses the ball.

Two cells at every scale (factors scenario, study, setting = set1 / set2, model, data_size), sharing their
training data (``memo-train``: 300 r x 1,000 v at paper scale, 20,000 ``-small``, 2,000 ``-tiny``) and so, at
tiny scale, their autoencoder; the evaluation set is the same for both (``memo-eval``: 20 r x (40 low + 20 seen)
speeds; ``memo-eval-small``: 4 r x (20 + 10)). Models and budgets as Fig. 5 (``fig5.py``).

Report: the distribution of generated speeds of the low-speed tests for Set-1 and Set-2; the reversal rate
(v_gen < 0) and the rate of generations at training speeds (v_gen >= 2.5) with Wilson CIs; the mean shift
v_gen − v; all beside the ground-truth floor; the case-vs-law index; GIFs.
"""

from __future__ import annotations

from phylaw.experiments import study as s
from phylaw.experiments.experiment import Experiment, ExperimentPlan, ReportSection

EVAL = {"paper": "memo-eval", "small": "memo-eval", "tiny": "memo-eval-small"}
SETS = (("set1", False), ("set2", True))  # (setting, horizontal flips in training)


def fig7(scale: str) -> ExperimentPlan:
    cells = [s.study_cell("fig7", scale, "memo", name, "memo-train" + s.TRAIN_SUFFIX[scale], EVAL[scale], "uniform_motion",
                          flip=flip) for name, flip in SETS]  # fmt: skip
    return s.plan(
        "fig7", scale, cells, "Fig. 7: memorisation, Set-1 (no flips) vs Set-2 (flips), low-speed tests."
    )


EXPERIMENT = Experiment(
    "fig7", s.FACTORS, fig7, pipeline=s.pipeline,
    report=ReportSection("Velocity error", figures=("training_curves", "error_distribution")),
)  # fmt: skip
