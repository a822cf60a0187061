"""The physics-only reference for the torque estimators: Newton-Euler on the processed windows.

    python -m evaluation.torque_physics [data/processed/synth] [test]

An untrained ``torque_ne`` has both residual heads at zero, so its output is the plain
differentiable Newton-Euler of ``biomech.dynamics`` on the windows' joint angles, pelvis pose
and force plates (finite differences at the 50 Hz timeline). Its error against the OpenSim
targets is what the learned residuals start from; printed per joint as RMSE (N m), ICC(3,1) and
Pearson r, the same metrics as the train@torque_* reports.
"""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["physics_only_metrics"]


def physics_only_metrics(data_dir: str | Path, split: str = "test", batch_size: int = 64) -> dict:
    import torch

    from models import build_model
    from training.tasks import TorqueTask

    torch.manual_seed(0)
    task = TorqueTask(Path(data_dir), batch_size=batch_size, seed=0)
    return task.evaluate(build_model("torque_ne", {}), task.loader(split))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    data_dir = Path(argv[0]) if argv else Path("data/processed/synth")
    split = argv[1] if len(argv) > 1 else "test"
    if split not in ("train", "val", "test"):
        print(f"torque_physics: split must be train, val or test, not {split!r}", file=sys.stderr)
        return 2
    if not (data_dir / "dataset.json").is_file():
        print(f"torque_physics: {data_dir} is not a processed dataset (run the preprocess stage)", file=sys.stderr)
        return 1
    try:
        m = physics_only_metrics(data_dir, split)
    except ValueError as exc:
        print(f"torque_physics: {exc}", file=sys.stderr)
        return 1
    print(f"Newton-Euler only, {split} split, {m['n']} windows: {m['rmse_nm_per_kg']:.3f} N m/kg")
    print("| joint moment | RMSE (N m) | ICC(3,1) | r |\n|---|---|---|---|")
    for j in m.get("rmse", {}):
        print(f"| {j} | {m['rmse'][j]:.2f} | {m['icc'][j]:.3f} | {m['pearson'][j]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
