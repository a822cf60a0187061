"""The training loop shared by every architecture of the zoo.

torch models: AdamW + cosine annealing (per epoch, to ``min_lr``), class balance (``balance``: the
split's class weights in the loss, or class-balanced sampling), batch augmentation, early stopping on validation macro-F1 (the
torque estimators: windows with force plates, moment RMSE; see training.tasks),
a checkpoint every epoch (``checkpoint.pt``: model, optimizer, scheduler, RNG state, epoch, best
score; resumed from when present), the best weights in ``model.pt`` and ``metrics.json``; a recognizer's
final val / test outputs in ``predictions.npz`` (the evaluate stage reads them instead of scoring again). With
``ema_decay`` the weights validated and saved are an exponential moving average of the trained ones
(``torch.optim.swa_utils.AveragedModel``).
sklearn models (``features_svm``, ``minirocket``): ``fit`` on the whole train split, ``model.joblib``.

Determinism: ``torch.manual_seed(seed)``, ``use_deterministic_algorithms(True, warn_only=True)``,
the loader's sampler and the augmentation are seeded per epoch (``seed + epoch``) and the global
RNG state is checkpointed, so a resumed run reproduces the uninterrupted one.

A tracker (e.g. ``training.tracking.MlflowTracker``) is optional and sees three calls only:
``start(params)``, ``log_epoch(epoch, metrics)``, ``finish(model, metrics, example_batch)``.
``on_epoch(epoch, row)`` is an optional hook called on rank 0 after every epoch with the epoch's
row (train loss, the task's validation metrics on the per-epoch subset, lr); an exception it raises
stops the run (Optuna's pruning: ``tuning.objective`` reports the row and raises ``TrialPruned``).

Distributed (``torchrun --nproc_per_node N``, i.e. ``WORLD_SIZE`` > 1): one process group (nccl
and one GPU per process when CUDA is available, else gloo on CPU), the model in
``DistributedDataParallel``; every rank draws the same seeded sampler order and
trains on its own disjoint, equally long slice of it (``shard_indices``), so an epoch is still
len(train) draws and ``batch_size`` is per process. BatchNorm buffers are averaged over the ranks
after each epoch; rank 0 evaluates and broadcasts the validation metrics (one early-stopping
decision everywhere), and only rank 0 writes files and talks to the tracker. At the end every rank's
weights are hashed and compared (``metrics["ddp"]``; a mismatch raises). sklearn models train on
rank 0 only. Resume works as in one process (every rank reads the shared ``checkpoint.pt``).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from sklearn.metrics import accuracy_score, f1_score
from tqdm import tqdm

from biomech.conventions import MODALITIES
from preprocessing.dataset import drop_imu_sensors

__all__ = ["TrainParams", "AugmentParams", "TrackingParams", "train", "augment_batch", "imu_sensor_subsets", "is_main", "shard_indices",
           "weights_digest", "batches_per_epoch", "PREDICTIONS", "write_predictions", "split_digest"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AugmentParams(_Strict):
    enabled: bool = True
    # landmarks, U(-rot, rot) about the vertical (y) of the view-normalised frame; the windows are
    # already view-normalised (preprocessing), so a small range covers the residual heading spread
    rotation_deg: float = Field(default=20.0, ge=0, le=180)
    scale: tuple[float, float] = (0.9, 1.1)                        # landmarks xyz
    imu_noise: float = Field(default=0.02, ge=0, le=1)            # std, in z-score units
    grf_noise: float = Field(default=0.02, ge=0, le=1)
    modality_dropout: float = Field(default=0.1, ge=0, le=0.9)    # per sample and present modality
    # per window with an IMU stream: the probability that a random subset of its sensors is missing
    # (k ~ U{1..5} of the 6, then k distinct sensors), written as a missing sensor is everywhere
    # (preprocessing.dataset.drop_imu_sensors: zeros in the sensor's 9 channels); a partial set was
    # out of distribution for modality_dropout, which drops all six or none (README "Ablations and robustness")
    imu_sensor_dropout: float = Field(default=0.0, ge=0, le=1)


class TrackingParams(_Strict):
    enabled: bool = True
    uri: str = "sqlite:///mlflow.db"  # MLflow 3 refuses the file store
    experiment: str = "athlete-mm-train"
    log_model: bool = True


class TrainParams(_Strict):
    dataset: str = Field(default="synth", pattern=r"^[A-Za-z0-9_\-]+$")
    data_dir: str = "data/processed"
    out_dir: str = "artifacts/train"
    report_dir: str = "reports/train"
    seeds_dir: str = "artifacts/seeds"     # seed replicas (stages.train <name> --seed K)
    seed: int = Field(default=0, ge=0)
    epochs: int = Field(default=30, ge=1, le=10000)
    batch_size: int = Field(default=32, ge=1, le=4096)
    lr: float = Field(default=3e-4, gt=0, le=1)
    weight_decay: float = Field(default=0.01, ge=0, le=1)
    min_lr: float = Field(default=1e-6, ge=0, le=1)
    patience: int = Field(default=5, ge=1)                        # epochs without a better val macro-F1
    grad_clip: float | None = Field(default=1.0, gt=0)
    # exponential moving average of the weights (and BatchNorm buffers), updated after every step
    # with this decay; validation, checkpoint selection and model.pt use the averaged weights; null = off
    ema_decay: float | None = Field(default=None, gt=0, lt=1)
    threads: int | None = Field(default=None, ge=1, le=256)
    max_batches_per_epoch: int | None = Field(default=None, ge=1)  # smoke runs only
    # equal sample budget: train windows seen over the run (all epochs, all ranks); replaces
    # max_batches_per_epoch by ceil(budget / (epochs * batch_size * ranks)) batches per epoch,
    # cycling the train loader when an epoch needs more batches than it holds; null = off
    sample_budget: int | None = Field(default=None, ge=1)
    # per-epoch validation (early stopping) on a fixed seeded subset of this many windows (CPU
    # budget; null = all); the final val / test metrics always use the whole splits
    val_windows_per_epoch: int | None = Field(default=None, ge=1)
    # validation also with sensors masked at inference (training.tasks.MASKED_VIEWS): val/test
    # <view>_accuracy / <view>_nll in the metrics; the tune stage turns both on for its trials
    val_views: list[Literal["landmarks_only", "imu_dropped"]] = Field(default_factory=list)
    # class balance of the recognizers, one mechanism: "loss" = the split's class_weights.json in
    # the classification losses (unless loss.class_weights is given), "sampler" = class-balanced
    # sampling of train windows, "none" = neither
    balance: Literal["loss", "sampler", "none"] = "loss"
    loss: dict[str, Any] = Field(default_factory=dict)             # models.losses.compute_losses cfg
    fault: dict[str, Any] = Field(default_factory=dict)            # training.tasks.FaultParams (fault head)
    augment: AugmentParams = Field(default_factory=AugmentParams)
    tracking: TrackingParams = Field(default_factory=TrackingParams)


# ---- augmentation ----------------------------------------------------------------------------
def augment_batch(batch: dict[str, torch.Tensor], a: AugmentParams, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Landmark rotation about the vertical by U(-rot, rot) and scale U(lo, hi) per sample,
    Gaussian noise on IMU / GRF, random IMU sensor subsets missing (``imu_sensor_subsets``, after
    the noise: a missing sensor is exact zeros), random modality dropout (mask False and tensor
    zeroed; a sample keeps at least one of its present modalities). Returns a new dict; ``g`` drives every draw.

    The vertical is the y axis of the stored landmarks (camera axes, y down, view-normalised by
    ``sigproc.normalize.normalize_view``); the rotation is ``sigproc.normalize.rotate_about_vertical``'s.
    The landmark scaler gives x and z centre 0 and one scale (``fit_landmark_scaler``), so rotating
    the z-scored values is the same rotation of the physical coordinates."""
    if not a.enabled:
        return batch
    b = dict(batch)
    B = b["label"].shape[0]
    u = lambda *s: torch.rand(*s, generator=g)  # noqa: E731
    if "landmarks" in b:
        lm = b["landmarks"].clone()
        th = (u(B) * 2 - 1) * math.radians(a.rotation_deg)
        s = a.scale[0] + u(B) * (a.scale[1] - a.scale[0])
        c, sn = (torch.cos(th) * s).view(B, 1, 1), (torch.sin(th) * s).view(B, 1, 1)
        x, y, z = lm[..., 0], lm[..., 1], lm[..., 2]
        lm[..., 0], lm[..., 1], lm[..., 2] = c * x + sn * z, y * s.view(B, 1, 1), -sn * x + c * z
        b["landmarks"] = lm
    for key, std in (("imu", a.imu_noise), ("grf", a.grf_noise)):
        if key in b and std > 0:
            b[key] = b[key] + std * torch.randn(b[key].shape, generator=g)
    if "imu" in b and "modality_mask" in b and a.imu_sensor_dropout > 0:
        b = drop_imu_sensors(b, imu_sensor_subsets(b["modality_mask"][:, MODALITIES.index("imu")].bool(),
                                                   b["imu"].shape[2], a.imu_sensor_dropout, g))
    if "modality_mask" in b and a.modality_dropout > 0:
        mask = b["modality_mask"].bool()
        drop = (u(mask.shape) < a.modality_dropout) & mask
        drop[(mask & ~drop).sum(1) == 0] = False  # never drop every present modality of a sample
        mask = mask & ~drop
        b["modality_mask"] = mask
        for i, m in enumerate(MODALITIES):
            if m in b:
                b[m] = b[m] * mask[:, i].view(B, *([1] * (b[m].dim() - 1))).to(b[m].dtype)
    return b


def imu_sensor_subsets(present: torch.Tensor, n_sensors: int, p: float, g: torch.Generator) -> torch.Tensor:
    """(B, n_sensors) bool: the IMU sensors to drop per window. A window with an IMU stream
    (``present``) loses, with probability ``p``, k ~ U{1..n_sensors - 1} distinct sensors (never
    all: dropping the whole stream is ``modality_dropout``'s part); the others lose none."""
    B = present.shape[0]
    hit = (torch.rand(B, generator=g) < p) & present
    k = torch.randint(1, n_sensors, (B,), generator=g) * hit
    rank = torch.rand(B, n_sensors, generator=g).argsort(1).argsort(1)   # a random order of the sensors
    return rank < k[:, None]


# ---- helpers ---------------------------------------------------------------------------------
def weight_average(model: torch.nn.Module, decay: float | None):
    """An exponential moving average of ``model``'s parameters and buffers (None when ``decay`` is None)."""
    if decay is None:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _classes(data_dir: Path) -> list[str]:
    info = json.loads((data_dir / "dataset.json").read_text())
    return list(info["classes"])


def _faults(data_dir: Path) -> list[str]:
    """The dataset's technique-fault vocabulary (index 0 = "none"); [] when it has none."""
    info = json.loads((data_dir / "dataset.json").read_text())
    return list(info.get("faults") or [])


def _numpy_split(data_dir: Path, split: str) -> dict[str, np.ndarray]:
    d = data_dir / split
    fields = ("landmarks", "imu", "grf", "modality_mask", "label", "fault")
    return {f: np.load(d / f"{f}.npy") for f in fields if (d / f"{f}.npy").is_file()}


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    tmp.replace(path)


PREDICTIONS = "predictions.npz"  # a recognizer's final val / test outputs (read by evaluation.predict)


def split_digest(data_dir: Path, split: str) -> str:
    """md5 of a processed split's index.json and label.npy: which windows, in which order."""
    h = hashlib.md5()
    for f in ("index.json", "label.npy"):
        h.update((data_dir / split / f).read_bytes())
    return h.hexdigest()


def write_predictions(path: Path, model: torch.nn.Module, data_dir: Path, outputs: Mapping[str, Mapping],
                      batch_size: int) -> None:
    """``<split>_<key>`` arrays of ``ClassificationTask.outputs`` per split, with the md5 of the
    weights that produced them, of each split's window list and the batch size (a window's outputs
    can depend on the batch it was scored in: the reader checks all three)."""
    arrays = {"weights_md5": np.array(weights_digest(model.state_dict())), "batch_size": np.array(int(batch_size))}
    for split, o in outputs.items():
        arrays[f"{split}_split_md5"] = np.array(split_digest(data_dir, split))
        arrays.update({f"{split}_{k}": np.asarray(v) for k, v in o.items() if not k.endswith("nll_sum")})
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def _example_batch(data_dir: Path, n: int = 2) -> dict[str, torch.Tensor]:
    from preprocessing.dataset import WindowDataset

    ds = WindowDataset(data_dir, "val" if (data_dir / "val" / "index.json").is_file() else "train")
    if len(ds) == 0:
        ds = WindowDataset(data_dir, "train")
    items = [ds[i] for i in range(min(n, len(ds)))]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


# ---- distributed (torchrun) ----------------------------------------------------------------------
class _Dist:
    """This process's place in a torchrun job (rank 0 of 1 without torchrun)."""

    def __init__(self, rank: int = 0, world: int = 1, device: str = "cpu", backend: str | None = None,
                 owned: bool = False):
        self.rank, self.world, self.device, self.backend, self.owned = rank, world, torch.device(device), backend, owned

    @property
    def main(self) -> bool:
        return self.rank == 0


def is_main() -> bool:
    """True on the process that writes files and talks to the tracker: rank 0 (or no torchrun)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def _dist_setup() -> _Dist:
    """Join the torchrun job when ``WORLD_SIZE`` > 1 (nccl + ``cuda:LOCAL_RANK`` when CUDA is
    available, else gloo on CPU); a single process is left alone (rank 0 of 1, CPU)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return _Dist()
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if cuda else "cpu"
    if cuda:
        torch.cuda.set_device(torch.device(device))
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group("nccl" if cuda else "gloo")
    return _Dist(dist.get_rank(), dist.get_world_size(), device, dist.get_backend(), owned)


def _dist_teardown(d: _Dist) -> None:
    import torch.distributed as dist

    if d.owned and dist.is_initialized():
        dist.destroy_process_group()


def _broadcast(obj: Any, d: _Dist) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if d.world == 1:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0, device=d.device if d.device.type == "cuda" else None)
    return box[0]


def _all_sum(values: list[float], d: _Dist) -> list[float]:
    if d.world == 1:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=d.device)
    dist.all_reduce(t)
    return t.tolist()


def _sync_buffers(model: torch.nn.Module, d: _Dist) -> None:
    """Float buffers (BatchNorm running statistics) averaged over the ranks, the others (counters)
    from rank 0: after it every rank holds the same state_dict."""
    if d.world == 1:
        return
    import torch.distributed as dist

    for b in model.buffers():
        if b.is_floating_point():
            dist.all_reduce(b)
            b.div_(d.world)
        else:
            dist.broadcast(b, src=0)


def weights_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    """md5 over the names, dtypes, shapes and bytes of a state_dict (parameters and buffers)."""
    h = hashlib.md5()
    for k in sorted(state_dict):
        t = state_dict[k].detach().cpu().contiguous().reshape(-1)
        h.update(f"{k}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _gather_digests(model: torch.nn.Module, d: _Dist) -> list[str]:
    import torch.distributed as dist

    out: list[Any] = [None] * d.world
    dist.all_gather_object(out, weights_digest(model.state_dict()))
    return out


def shard_indices(order: list[int], rank: int, world: int) -> list[int]:
    """``rank``'s slice of one sampler order shared by every rank: the order is padded (cycling) to
    a multiple of ``world`` and every rank takes every ``world``-th element from ``rank`` on, so the
    slices are disjoint positions of the same draw, equally long (same batch count everywhere)."""
    n = len(order)
    if world == 1 or n == 0:
        return list(order)
    per = -(-n // world)
    padded = [order[i % n] for i in range(per * world)]
    return padded[rank::world]


def batches_per_epoch(p: TrainParams, loader_batches: int, world: int = 1) -> int:
    """Train batches per epoch: from ``sample_budget`` when set (every model then sees the same
    number of windows), else the loader's length capped by ``max_batches_per_epoch``."""
    if p.sample_budget is not None:
        return math.ceil(p.sample_budget / (p.epochs * p.batch_size * world))
    return loader_batches if p.max_batches_per_epoch is None else min(loader_batches, p.max_batches_per_epoch)


def _take(loader, n: int):
    """``n`` batches of ``loader``, starting it again (a new seeded draw) when it runs out."""
    done = 0
    while done < n:
        before = done
        for batch in loader:
            if done >= n:
                return
            done += 1
            yield batch
        if done == before:  # an empty loader
            return


class _IndexSampler(torch.utils.data.Sampler):
    def __init__(self, indices: list[int]):
        self.indices = indices

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def _shard_loader(loader, d: _Dist):
    """The same loader over this rank's slice of its (seeded) sampler order."""
    if d.world == 1:
        return loader
    from torch.utils.data import DataLoader

    order = [int(i) for i in loader.sampler]  # identical on every rank: same seed, same generator
    sampler = _IndexSampler(shard_indices(order, d.rank, d.world))
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler,
                      num_workers=loader.num_workers, drop_last=loader.drop_last, collate_fn=loader.collate_fn)


# ---- the loop --------------------------------------------------------------------------------
def train(model_name: str, model_cfg: Mapping[str, Any] | None, train_cfg: TrainParams | Mapping[str, Any] | None,
          data_dir: str | Path, out_dir: str | Path, tracker: Any = None, progress: bool = True,
          on_epoch: Callable[[int, dict], None] | None = None) -> dict:
    """Train ``model_name`` on ``data_dir`` (= ``data/processed/<dataset>``), write ``out_dir``
    (checkpoint.pt, model.pt or model.joblib, metrics.json) and return the metrics dict."""
    from models import build_model, model_kind, model_signature

    p = train_cfg if isinstance(train_cfg, TrainParams) else TrainParams.model_validate(dict(train_cfg or {}))
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    classes = _classes(data_dir)
    K = len(classes)
    kind = model_kind(model_name)
    cfg = dict(model_cfg or {})
    if "num_classes" in model_signature(model_name):
        cfg.setdefault("num_classes", K)
    if "seed" in model_signature(model_name):
        cfg.setdefault("seed", p.seed)
    if "num_faults" in model_signature(model_name):  # every torch recognizer can carry the fault head
        faults = _faults(data_dir)
        cfg.setdefault("num_faults", len(faults) if len(faults) >= 2 else 0)
    if p.threads:
        torch.set_num_threads(p.threads)
    torch.manual_seed(p.seed)
    np.random.seed(p.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    t0 = time.perf_counter()
    if kind == "sklearn" and not is_main():  # under torchrun: rank 0 fits, the others have nothing to do
        print(f"train[{model_name}]: sklearn model, trained on rank 0 only", file=sys.stderr)
        return {"model": model_name, "kind": kind, "trained_on_rank": 0}
    d = _dist_setup() if kind != "sklearn" else _Dist()
    if not d.main:
        tracker, progress = None, False
    try:
        if tracker is not None:
            tracker.start({"model_name": model_name, "model": cfg, "train": p.model_dump(mode="json")}, data_dir)
        try:
            return _run(model_name, kind, cfg, classes, p, data_dir, out_dir, tracker, t0, progress, d, on_epoch)
        except BaseException:
            if tracker is not None and hasattr(tracker, "fail"):
                tracker.fail()
            raise
    finally:
        _dist_teardown(d)


def _run(model_name, kind, cfg, classes, p: TrainParams, data_dir: Path, out_dir: Path, tracker, t0, progress,
         d: _Dist | None = None, on_epoch: Callable[[int, dict], None] | None = None):
    from models import build_model

    d = d or _Dist()
    K = len(classes)
    if kind == "sklearn":
        return _train_sklearn(model_name, cfg, p, data_dir, out_dir, tracker, t0, build_model)

    from .tasks import make_task, to_device

    model = build_model(model_name, cfg).to(d.device)  # before the optimizer: its state follows the params
    # a model that reads no pixels gets batches without them (decoding video is most of a batch's cost);
    # the task draws no random numbers, so building the model first leaves every draw as it was
    reads_video = "video" in getattr(model, "modalities", MODALITIES)
    task = make_task(kind, data_dir, K, p.batch_size, p.seed, p.loss, p.balance, int(cfg.get("num_faults", 0)),
                     p.fault, p.val_views, video=reads_video)
    n_params = int(sum(t.numel() for t in model.parameters()))
    opt = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    ema = weight_average(model, p.ema_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=p.epochs, eta_min=p.min_lr)
    ckpt_path, best_path = out_dir / "checkpoint.pt", out_dir / "model.pt"
    state = {"epoch": 0, "best_score": -math.inf, "best_epoch": 0, "since_best": 0, "history": []}
    resumed_from = 0
    if ckpt_path.is_file():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ck.get("model_name") != model_name or ck.get("model_cfg") != cfg:
            raise ValueError(f"{ckpt_path}: checkpoint of a different model/cfg; delete it to start over")
        model.load_state_dict(ck["model"])
        if ema is not None:
            if "ema" not in ck:
                raise ValueError(f"{ckpt_path}: checkpoint written without ema_decay; delete it to start over")
            ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        # the epoch budget may have grown since the checkpoint: continue the cosine of *this* budget
        sched.T_max = p.epochs
        for grp in opt.param_groups:
            grp["lr"] = p.min_lr + (grp["initial_lr"] - p.min_lr) * (1 + math.cos(math.pi * ck["epoch"] / p.epochs)) / 2
        sched._last_lr = [grp["lr"] for grp in opt.param_groups]
        torch.set_rng_state(ck["rng"])
        if d.device.type == "cuda" and "cuda_rng" in ck:
            torch.cuda.set_rng_state(ck["cuda_rng"], d.device)
        state = ck["state"]
        resumed_from = state["epoch"]
    net = model
    if d.world > 1:  # rank 0's weights are broadcast here; grads are averaged in backward
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[d.device.index] if d.device.type == "cuda" else None,
                                      find_unused_parameters=True)  # absent modalities skip their encoder
        init_digest = weights_digest(model.state_dict())
    val_loader = task.loader("val")
    epoch_val_loader = task.loader("val", max_windows=p.val_windows_per_epoch)
    stopped_early = False
    epoch = state["epoch"]
    while epoch < p.epochs:
        if state["since_best"] >= p.patience:
            stopped_early = True
            break
        epoch += 1
        loader = _shard_loader(task.train_loader(epoch), d)
        g = torch.Generator().manual_seed(p.seed * 1000 + epoch + (d.rank << 32))  # own augmentation per rank
        model.train()
        total, n_batches = 0.0, 0
        n_max = batches_per_epoch(p, len(loader), d.world)
        bar = tqdm(total=n_max, desc=f"{model_name} epoch {epoch}/{p.epochs}", unit="batch",
                   disable=not progress, file=sys.stderr, leave=False)
        for batch in _take(loader, n_max):
            state["windows_seen"] = state.get("windows_seen", 0) + int(batch["label"].shape[0]) * d.world
            if task.augment:
                batch = augment_batch(batch, p.augment, g)
            batch = to_device(task.prepare(batch), d.device)
            losses = task.losses(net(batch), batch)
            opt.zero_grad(set_to_none=True)
            losses["total"].backward()
            if p.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip)
            opt.step()
            if ema is not None:
                ema.update_parameters(model)
            total += float(losses["total"].detach())
            n_batches += 1
            bar.update()
            bar.set_postfix(loss=f"{total / n_batches:.4f}")
        bar.close()
        total, n_batches = _all_sum([total, n_batches], d)  # the mean loss over every rank's batches
        _sync_buffers(model, d)
        lr = opt.param_groups[0]["lr"]
        sched.step()
        scored = ema.module if ema is not None else model   # the weights validated and saved
        val = _broadcast(task.evaluate(scored, epoch_val_loader, d.device) if d.main else None, d)  # one decision
        row = {"epoch": epoch, "train_loss": total / max(n_batches, 1), **task.epoch_row(val), "lr": lr}
        state["history"].append(row)
        score = val["score"] if not math.isnan(val["score"]) else -row["train_loss"]
        if score > state["best_score"]:
            state.update(best_score=score, best_epoch=epoch, since_best=0)
            if d.main:
                torch.save({"model_name": model_name, "model_cfg": cfg, "classes": classes,
                            "state_dict": scored.state_dict(), "epoch": epoch,
                            task.score_name: val[task.score_key]}, best_path)
        else:
            state["since_best"] += 1
        state["epoch"] = epoch
        if d.main:
            ckpt = {"model_name": model_name, "model_cfg": cfg, "model": model.state_dict(),
                    "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": torch.get_rng_state(),
                    "epoch": epoch, "best_score": state["best_score"], "state": state}
            if ema is not None:
                ckpt["ema"] = ema.state_dict()
            if d.device.type == "cuda":
                ckpt["cuda_rng"] = torch.cuda.get_rng_state(d.device)
            tmp = ckpt_path.with_suffix(".tmp")
            torch.save(ckpt, tmp)
            tmp.replace(ckpt_path)
            print(f"train[{model_name}] epoch {epoch}: loss {row['train_loss']:.4f} {task.describe(val)}",
                  file=sys.stderr)
        if tracker is not None:
            tracker.log_epoch(epoch, row)
        if on_epoch is not None and d.main:
            on_epoch(epoch, row)
    if state["since_best"] >= p.patience and epoch < p.epochs:
        stopped_early = True
    ddp = None
    if d.world > 1:
        digests = _gather_digests(model, d)
        if len(set(digests)) != 1:
            raise RuntimeError(f"DDP: the ranks' weights differ after training (md5 per rank: {digests})")
        ddp = {"world_size": d.world, "backend": d.backend, "batch_size_per_rank": p.batch_size,
               "init_digest": init_digest, "rank_digests": digests}
    model.cpu()
    if not d.main:
        return _broadcast(None, d)  # rank 0's metrics
    best = torch.load(best_path, map_location="cpu", weights_only=False)
    model.load_state_dict(best["state_dict"])
    if hasattr(task, "outputs"):  # recognizers: the evaluate stage reads these outputs instead of scoring again
        outputs = {"val": task.outputs(model, val_loader), "test": task.outputs(model, task.loader("test"))}
        val, test = task.scores(outputs["val"]), task.scores(outputs["test"])
        write_predictions(out_dir / PREDICTIONS, model, data_dir, outputs, p.batch_size)
    else:
        val = task.evaluate(model, val_loader)
        test = task.evaluate(model, task.loader("test"))
    metrics = {
        "model": model_name, "kind": kind, "seed": p.seed, **task.summary(val, test),
        "epochs": state["epoch"], "best_epoch": state["best_epoch"], "stopped_early": stopped_early,
        "resumed_from_epoch": resumed_from, "seconds": round(time.perf_counter() - t0, 2),
        "params": n_params, "windows_seen": state.get("windows_seen", 0), "sample_budget": p.sample_budget,
        "history": state["history"],
    }
    if ddp is not None:
        metrics["ddp"] = ddp
    _write_json(out_dir / "metrics.json", metrics)
    if tracker is not None:
        tracker.finish(model, metrics, task.prepare(_example_batch(data_dir)))
    return _broadcast(metrics, d)


def _train_sklearn(model_name, cfg, p: TrainParams, data_dir: Path, out_dir: Path, tracker, t0, build_model) -> dict:
    from .tasks import fault_scores

    model = build_model(model_name, cfg)
    classes = _classes(data_dir)
    tr = _numpy_split(data_dir, "train")
    model.fit(tr)
    out, faults = {}, {}
    for split in ("val", "test"):
        d = _numpy_split(data_dir, split)
        if len(d["label"]) == 0:
            out[split] = (float("nan"), float("nan"), 0)
            continue
        y, pr = d["label"], model.predict(d)
        out[split] = (float(accuracy_score(y, pr)),
                      float(f1_score(y, pr, labels=list(range(len(classes))), average="macro", zero_division=0)),
                      int(len(y)))
        if getattr(model, "fault_pipeline", None) is not None and "fault" in d:
            for key, v in fault_scores(d["fault"], model.predict_fault(d), y, classes).items():
                faults[f"{split}_{key}"] = v
    model.save(out_dir / "model.joblib")
    metrics = {
        "model": model_name, "kind": "sklearn", "seed": p.seed, "val_accuracy": out["val"][0], "val_macro_f1": out["val"][1],
        "test_accuracy": out["test"][0], "test_macro_f1": out["test"][1], "n_val": out["val"][2],
        "n_test": out["test"][2], **faults, "epochs": 1, "best_epoch": 1, "stopped_early": False,
        "resumed_from_epoch": 0, "seconds": round(time.perf_counter() - t0, 2), "params": int(model.n_params),
        "windows_seen": int(len(tr["label"])), "sample_budget": None, "history": [],
    }
    _write_json(out_dir / "metrics.json", metrics)
    if tracker is not None:
        tracker.log_epoch(1, {"val_accuracy": metrics["val_accuracy"], "val_macro_f1": metrics["val_macro_f1"]})
        tracker.finish(model, metrics, {k: v[:2] for k, v in _numpy_split(data_dir, "val" if out["val"][2] else "train").items()})
    return metrics
