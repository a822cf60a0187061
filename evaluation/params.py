"""params.yaml section ``evaluate`` (pydantic, extra keys rejected)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BootstrapParams(_Strict):
    n_boot: int = Field(default=1000, ge=10, le=100000)
    seed: int = Field(default=0, ge=0)
    level: float = Field(default=0.95, gt=0, lt=1)


class LatencyParams(_Strict):
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 32])
    runs: int = Field(default=30, ge=30, le=10000)     # median of >= 30 warm runs
    warmup: int = Field(default=3, ge=1, le=100)
    # a model whose `runs` calls at one batch size would take longer than this stops after
    # max(5, what fits) runs (the count is reported); null = always `runs`
    max_seconds: float | None = Field(default=None, gt=0)


class ChampionRule(_Strict):
    """The served recognizer: best validation window-level macro-F1 among models that fuse at least
    ``min_modalities`` inputs, read none of ``forbidden_modalities`` (rendered pixels cannot be fed
    in use) and all of ``required_modalities``, are not a peer baseline in ``exclude``, and cost at most ``max_latency_ms`` per window
    at batch 1 on one thread."""
    metric: Literal["val_macro_f1", "val_accuracy"] = "val_macro_f1"
    min_modalities: int = Field(default=2, ge=1, le=4)
    forbidden_modalities: list[str] = Field(default_factory=lambda: ["video"])
    # modalities the champion must read: /analyze receives a video alone, which reaches a model as
    # MediaPipe landmarks, so a served recognizer without them would answer from masked inputs
    required_modalities: list[str] = Field(default_factory=list)
    max_latency_ms: float | None = Field(default=2.0, gt=0)   # None: reported, no gate
    max_mflops: float | None = Field(default=None, gt=0)       # FLOPs per window (machine-independent)
    exclude: list[str] = Field(default_factory=lambda: ["minirocket"])
    baseline: str = "minirocket"                        # the peer compared against (McNemar)


class TrackingParams(_Strict):
    enabled: bool = True
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "athlete-mm-evaluate"
    train_experiment: str = "athlete-mm-train"          # to link each evaluation to its training run
    register_models: bool = True                              # registry alias `champion`
    recognizer_name: str = "athlete-mm-recognizer"
    torque_name: str = "athlete-mm-torque"


class ViewSweepParams(_Strict):
    """Controlled azimuth sweep of the champion (evaluation.view_sweep): every test clip re-derived
    from each azimuth. ``raw_dir`` (the raw dataset folder) and ``sync_offsets`` (the preprocess
    stage's sync_offsets.json) default (null) to the paths in the processed dataset.json params.
    ``own_view``: also score each clip at its own azimuth with a fresh error draw (a control)."""
    enabled: bool = True
    azimuths_deg: list[float] = Field(default_factory=lambda: [15.0 + 30.0 * k for k in range(12)], min_length=1)
    raw_dir: str | None = None
    sync_offsets: str | None = None
    own_view: bool = True
    # processes deriving the clips' views (spawn; 1 = in the evaluate process): the same windows
    workers: int = Field(default=1, ge=1, le=64)


class EvaluateParams(_Strict):
    dataset: str = Field(default="synth", pattern=r"^[A-Za-z0-9_\-]+$")
    data_dir: str = "data/processed"
    train_dir: str = "artifacts/train"
    seeds_dir: str = "artifacts/seeds"                  # <model>/seed_<k>/ as artifacts/train/<model>/
    report_dir: str = "reports/evaluation"
    metrics_file: str = "reports/evaluate.json"
    markdown: str = "reports/evaluation.md"
    champion_file: str = "artifacts/champion.json"
    threads: int = Field(default=2, ge=1, le=256)
    batch_size: int = Field(default=64, ge=1, le=4096)
    bootstrap: BootstrapParams = Field(default_factory=BootstrapParams)
    calibration_bins: int = Field(default=15, ge=2, le=100)
    azimuth_bin_deg: float = Field(default=30.0, gt=0, le=180)
    rotation_angles_deg: list[float] = Field(default_factory=lambda: [30.0 * k for k in range(12)])
    view_sweep: ViewSweepParams = Field(default_factory=ViewSweepParams)
    angle_thresholds_deg: list[float] = Field(default_factory=lambda: [3, 5, 7, 9, 11, 15])
    latency: LatencyParams = Field(default_factory=LatencyParams)
    champion: ChampionRule = Field(default_factory=ChampionRule)
    tracking: TrackingParams = Field(default_factory=TrackingParams)
