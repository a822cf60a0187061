"""`holdout generate`: the `generate` section's settings with the cohort's seed, size and athlete
ids -> data/raw/<holdout.dataset> (stages.generate.generate; see stages/holdout/__init__.py)."""
from __future__ import annotations

import sys
from pathlib import Path

from stages.holdout import HoldoutParams, cohort_generate_params, run_step


def step(h: HoldoutParams) -> int:
    from biomech.synth import ClipGenerationError
    from stages.generate import generate, load_params

    _, gen = load_params()
    gp = cohort_generate_params(gen, h)
    print(f"holdout generate: {gp.n_clips} clips of {gp.n_athletes} athletes ({h.athlete_prefix}0000...), "
          f"seed {gp.seed} -> {h.raw_dir}/{gp.dataset}", file=sys.stderr)
    try:
        r = generate(gp, Path(h.raw_dir), athlete_prefix=h.athlete_prefix)
    except ClipGenerationError as exc:
        print(f"holdout generate: {exc}", file=sys.stderr)
        return 1
    print(f"holdout generate: {r['n_clips']} clips in {r['seconds']} s ({r['clips_per_second']} clips/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_step("generate", step))
