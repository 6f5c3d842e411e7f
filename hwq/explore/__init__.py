"""``hwq explore``: mixed-precision Pareto search across number formats, per layer, for a target.

Pipeline (``explore(config, out_dir, target=..., budgets=...)``):

1. the float model is trained on the fit part of the training split (a validation part is held out);
2. every uniform configuration is scored (PTQ on the emulator, validation accuracy, estimated costs):
   these give the uniform baselines and the per-layer cost table;
3. per-layer sensitivity: measured loss change of one layer at a time, and the Hutchinson Hessian trace
   (``sensitivity``);
4. an ILP (``ilp``, ``scipy.optimize.milp``) minimises the summed sensitivity under budgets swept over the
   primary cost (a geometric grid, then epsilon-constraint steps into its widest gaps); NSGA-II (``nsga``,
   ``pymoo``) searches accuracy against every objective cost, seeded with the best of the configurations
   scored so far (uniform, baselines, ILP solutions), genes ranked by cost;
5. the first non-dominated layers of the PTQ search (``refine_ranks``) and the baselines are fine-tuned
   (short QAT) and measured on the test split; the final front, the chosen point's IR and config, and
   pareto.json/csv/png are written.

FPGA candidates are priced by ``hwq.cost.fpga(exact=False)`` (``costs``), MCU candidates by ``hwq.cost.mcu``.

On a Cortex-M target every candidate (per-layer ``int8``/``int4`` weights) is a CMSIS-NN profile model
(``hwq.train.profiles.cmsis_config``), PTQ-scored and QAT-refined in that profile, priced by ``hwq.cost.mcu``; the
chosen graph is accepted by ``hwq emit mcu``.

Evaluations are cached by configuration hash and run in local worker processes or Ray tasks
(``evaluate``), with identical results whatever runs them.
"""

from .costs import TargetError, parse_budgets, target_kind
from .run import ExploreError, explore
from .space import SpaceError, build_space

__all__ = ["ExploreError", "SpaceError", "TargetError", "build_space", "explore", "parse_budgets", "target_kind"]
