"""What the training loop optimises and scores, per model kind.

* :class:`ClassificationTask` (kind ``"torch"``): the zoo's losses (``models.losses.compute_losses``),
  class balance by one mechanism (``balance``): ``"loss"`` passes the split's ``class_weights.json``
  (w_c proportional to 1/n_c) to the classification losses, ``"sampler"`` draws class-balanced train
  batches instead, ``"none"`` neither; score = validation macro-F1; reports accuracy, macro-F1 and
  the action head's negative log-likelihood (``nll``: mean unweighted cross-entropy, a graded
  measure that still moves when accuracy saturates; the tuning objective),
  and for a model with a technique-fault head (``fault_logits``; the window's clip fault, 0 =
  "none") the fault accuracy and macro-F1, overall and per true action class.
* :class:`TorqueTask` (kind ``"torque"``): the joint-moment estimators of ``models.torque``. Only
  windows with force plates (``modality_mask[:, 3]``) carry the boundary condition they need, so
  the splits are restricted to those; the GRF goes back to physical units (force / body weight,
  COP m, free moment N m) because the estimators take physical inputs; loss = RMSE of the
  mass-normalised moments; score = - validation RMSE (N m / kg); reports RMSE (N m), ICC(3,1) and
  Pearson r per joint (``models.torque.torque_metrics``).

A task sees the processed dataset directory only; the loop owns optimiser, schedule, checkpoints
and tracking.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from sklearn.metrics import accuracy_score, f1_score
from torch.utils.data import DataLoader, Subset

from models.losses import mask_fault_logits

__all__ = ["ClassificationTask", "TorqueTask", "make_task", "to_device", "split_class_weights", "nll_fault",
           "nll_fault_masked", "MASKED_VIEWS",
           "fault_class_weights", "fault_scores", "BALANCE"]

BALANCE = ("loss", "sampler", "none")  # how the classification task balances the classes

# validation with sensors absent at inference (``train.val_views``; the tuning objective scores
# them): the modalities each view keeps, masked by the robustness stage's own function
# (``preprocessing.dataset.mask_modalities``: absent streams zeroed, modality_mask False).
# landmarks_only = what a video-only /analyze call runs (no IMU, no force plate)
MASKED_VIEWS = {"landmarks_only": ("landmarks",), "imu_dropped": ("landmarks", "grf", "video")}


def to_device(batch: dict[str, torch.Tensor], device: torch.device | None) -> dict[str, torch.Tensor]:
    if device is None or device.type == "cpu":
        return batch
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def _subset(ds, batch_size: int, max_windows: int, seed: int) -> DataLoader:
    """A fixed seeded random subset of at most ``max_windows`` windows, in index order."""
    n = len(ds)
    keep = np.sort(np.random.default_rng(seed).permutation(n)[:max_windows]) if n > max_windows else np.arange(n)
    return DataLoader(Subset(ds, keep.tolist()), batch_size=batch_size, shuffle=False)


def split_class_weights(data_dir: str | Path, num_classes: int) -> list[float]:
    """The train split's class weights (``class_weights.json``: w_c proportional to 1/n_c, sum 1,
    0 for classes absent from train); a missing file or a wrong length raises naming the file."""
    path = Path(data_dir) / "class_weights.json"
    if not path.is_file():
        raise ValueError(f"{path} not found: the processed dataset has no class weights (re-run the preprocess "
                         "stage, or set train.balance to 'sampler' or 'none')")
    w = json.loads(path.read_text()).get("class_weights")
    if not isinstance(w, list) or len(w) != num_classes:
        raise ValueError(f"{path}: 'class_weights' should be a list of {num_classes} floats (one per class of "
                         f"dataset.json), got {w!r}")
    return [float(v) for v in w]


class FaultParams(BaseModel):
    """How the technique-fault head is trained and how it counts in checkpoint selection."""
    model_config = ConfigDict(extra="forbid")
    given_action: bool = True    # fault softmax over the faults admissible for the window's true action
    # class weights of the fault loss: inverse frequency (1/n), its square root (1/sqrt n, milder:
    # "none" is ~70 % of the windows, and 1/n makes the head call a fault in most of them), or none
    balance: Literal["inverse", "sqrt", "none"] = "inverse"
    # checkpoint selection score = val macro-F1 + score_weight * val fault macro-F1 (given the action);
    # 0 = the action alone (val action accuracy saturates long before the fault head has learned)
    score_weight: float = Field(default=0.0, ge=0, le=10)


def fault_class_weights(data_dir: str | Path, num_faults: int, balance: str = "inverse") -> list[float]:
    """Weights of the train windows' fault labels: ``inverse`` is the class-weight rule of
    preprocessing.split.class_weights (1/n, sum 1, 0 for faults absent from train); ``sqrt`` uses
    1/sqrt(n), normalised the same way."""
    from preprocessing.split import class_weights

    path = Path(data_dir) / "train" / "fault.npy"
    if not path.is_file():
        raise ValueError(f"{path} not found: the processed dataset has no fault labels")
    counts, w = class_weights(np.load(path), num_faults)
    if balance == "sqrt":
        w = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
        w = w / w.sum()
    return [float(v) for v in w]


def train_fault_mask(data_dir: str | Path, num_classes: int, num_faults: int) -> np.ndarray:
    """(K, F) bools: the faults seen with each action in the train split (+ "none")."""
    from models.losses import admissible_fault_mask

    d = Path(data_dir) / "train"
    for f in ("label.npy", "fault.npy"):
        if not (d / f).is_file():
            raise ValueError(f"{d / f} not found: the processed dataset has no fault labels")
    return admissible_fault_mask(np.load(d / "label.npy"), np.load(d / "fault.npy"), num_classes, num_faults)


def nll_fault(res: Mapping[str, Any]) -> float:
    """One figure for both heads (lower is better): the action NLL + (1 - fault macro-F1 given the
    action). The tuning objective of the champion (``tune.metric: val_nll_fault``): the action NLL
    alone ranks how confident the right actions are but is blind to the fault head, whose macro-F1
    varies ~10x more between seeds than the action accuracy does."""
    return float(res["nll"]) + 1.0 - float(res["fault_macro_f1"])


def nll_fault_masked(res: Mapping[str, Any]) -> float:
    """:func:`nll_fault` + the action NLL with the IMU and GRF masked (landmarks only) + the action
    NLL with the IMU masked (lower is better; ``tune.metric: val_nll_fault_masked``). The fused
    figure alone is blind to what a model does without its sensors: a study on it chose a modality
    dropout that cost 5 points of landmarks-only accuracy. Needs ``res`` from a task evaluated
    with both views (``train.val_views: [landmarks_only, imu_dropped]``)."""
    missing = [v for v in MASKED_VIEWS if f"{v}_nll" not in res]
    if missing:
        raise KeyError(f"nll_fault_masked: no {missing} NLL in the scores (train.val_views must hold "
                       f"{list(MASKED_VIEWS)})")
    return nll_fault(res) + sum(float(res[f"{v}_nll"]) for v in MASKED_VIEWS)


def _macro_f1(y: np.ndarray, p: np.ndarray) -> float:
    """Macro-F1 over the labels that occur in ``y`` or ``p``."""
    return float(f1_score(y, p, average="macro", zero_division=0))


def fault_scores(fault: np.ndarray, pred: np.ndarray, action: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Fault accuracy and macro-F1 (over the fault labels present), overall and per true action
    (recognition of the fault given the action)."""
    per_action = {classes[a]: _macro_f1(fault[action == a], pred[action == a]) for a in np.unique(action)}
    return {"fault_accuracy": float(accuracy_score(fault, pred)), "fault_macro_f1": _macro_f1(fault, pred),
            "fault_macro_f1_per_action": per_action}


class ClassificationTask:
    kind = "torch"
    augment = True                   # the loop applies augment_batch to training batches
    score_name, score_key = "val_macro_f1", "macro_f1"

    def __init__(self, data_dir: Path, num_classes: int, batch_size: int, seed: int, loss_cfg: Mapping[str, Any],
                 balance: str = "loss", num_faults: int = 0, fault: Mapping[str, Any] | None = None,
                 views: Sequence[str] = (), video: bool = True):
        if balance not in BALANCE:
            raise ValueError(f"balance = {balance!r}: expected one of {BALANCE}")
        unknown = [v for v in views if v not in MASKED_VIEWS]
        if unknown:
            raise ValueError(f"train.val_views = {list(views)}: unknown {unknown}; "
                             f"expected some of {list(MASKED_VIEWS)}")
        self.views = tuple(dict.fromkeys(views))
        self.data_dir, self.K, self.batch_size, self.seed = Path(data_dir), num_classes, batch_size, seed
        self.balance, self.num_faults = balance, num_faults
        self.video = video  # False: batches without the video key (a model that reads no pixels)
        self.loss_cfg = dict(loss_cfg)
        self.fault = FaultParams.model_validate(dict(fault or {}))
        # the fault head is trained and scored given the action (models.losses.admissible_fault_mask)
        self.fault_admissible = None
        if self.fault.given_action and num_faults:
            self.fault_admissible = train_fault_mask(self.data_dir, num_classes, num_faults)
            self.loss_cfg["fault_admissible"] = self.fault_admissible.tolist()
        if balance == "loss" and self.loss_cfg.get("class_weights") is None:
            self.loss_cfg["class_weights"] = split_class_weights(self.data_dir, num_classes)
        if num_faults and self.fault.balance != "none" and self.loss_cfg.get("fault_class_weights") is None:
            self.loss_cfg["fault_class_weights"] = fault_class_weights(self.data_dir, num_faults, self.fault.balance)

    def train_loader(self, epoch: int) -> DataLoader:
        from preprocessing.dataset import make_loader

        return make_loader("train", self.batch_size, balanced=self.balance == "sampler", root=self.data_dir,
                           seed=self.seed + epoch, video=self.video)

    def loader(self, split: str, max_windows: int | None = None) -> DataLoader:
        from preprocessing.dataset import make_loader

        dl = make_loader(split, self.batch_size, balanced=False, root=self.data_dir, seed=self.seed, video=self.video)
        return _subset(dl.dataset, self.batch_size, max_windows, self.seed) if max_windows else dl

    def prepare(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return batch

    def losses(self, outputs, batch) -> dict[str, torch.Tensor]:
        from models.losses import compute_losses

        return compute_losses(outputs, batch, self.loss_cfg)

    def outputs(self, model: torch.nn.Module, loader: Iterable, device: torch.device | None = None) -> dict[str, Any]:
        """The model's outputs over the loader, as arrays in window order: ``label``, ``logits`` (N, K),
        ``fault`` / ``fault_logits`` (N, F) when it has a fault head, ``angles`` (N, T, 23) when it
        predicts them, ``nll_sum`` (the unweighted cross-entropy of the action logits, summed per
        batch), and per masked view of ``views`` its predicted classes ``<view>_pred`` and ``<view>_nll_sum``.
        :meth:`scores` turns them into the metrics; the training loop also saves them
        (``predictions.npz``) so that the evaluate stage does not score val and test again."""
        from preprocessing.dataset import mask_modalities  # the robustness stage's masking, not a copy

        model.eval()
        outs: dict[str, list[np.ndarray]] = {}
        nll = {"": 0.0, **{f"{v}_": 0.0 for v in self.views}}
        with torch.no_grad():
            for batch in loader:
                out = model(to_device(self.prepare(batch), device))
                logits = out["logits"].float().cpu()
                outs.setdefault("label", []).append(batch["label"].numpy())
                outs.setdefault("logits", []).append(logits.numpy())
                nll[""] += float(torch.nn.functional.cross_entropy(logits, batch["label"], reduction="sum"))
                if "fault_logits" in out:
                    outs.setdefault("fault", []).append(batch["fault"].numpy())
                    outs.setdefault("fault_logits", []).append(out["fault_logits"].float().cpu().numpy())
                if torch.is_tensor(out.get("angles")):
                    outs.setdefault("angles", []).append(out["angles"].float().cpu().numpy())
                for v in self.views:
                    vo = model(to_device(self.prepare(mask_modalities(batch, MASKED_VIEWS[v])), device))["logits"]
                    outs.setdefault(f"{v}_pred", []).append(vo.argmax(-1).cpu().numpy())
                    nll[f"{v}_"] += float(torch.nn.functional.cross_entropy(vo.float().cpu(), batch["label"],
                                                                           reduction="sum"))
        res: dict[str, Any] = {k: np.concatenate(v) for k, v in outs.items()}
        res.update({f"{k}nll_sum": v for k, v in nll.items()})
        return res

    def scores(self, o: Mapping[str, Any]) -> dict[str, Any]:
        """{"accuracy", "macro_f1", "nll", "n", "score"} of :meth:`outputs` (score = macro-F1, + fault.score_weight x
        fault macro-F1 when the model has a fault head; nll = mean cross-entropy of the action logits,
        unweighted), plus :func:`fault_scores` when the model has a fault head, plus
        ``<view>_accuracy`` / ``<view>_nll`` for each of ``views`` (the same windows with sensors masked)."""
        if "label" not in o or not len(o["label"]):
            return {"accuracy": float("nan"), "macro_f1": float("nan"), "nll": float("nan"), "n": 0,
                    "score": float("nan")}
        y, p = o["label"], o["logits"].argmax(-1)
        f1 = float(f1_score(y, p, labels=list(range(self.K)), average="macro", zero_division=0))
        res = {"accuracy": float(accuracy_score(y, p)), "macro_f1": f1, "nll": o["nll_sum"] / len(y), "n": int(len(y)),
               "score": f1}
        for v in self.views:
            res[f"{v}_accuracy"] = float(accuracy_score(y, o[f"{v}_pred"]))
            res[f"{v}_nll"] = o[f"{v}_nll_sum"] / len(y)
        if "fault_logits" in o:
            fl = torch.from_numpy(o["fault_logits"])
            if self.fault_admissible is not None:  # given the (true) action, as the evaluate stage
                fl = mask_fault_logits(fl, torch.from_numpy(y), self.fault_admissible)
            res.update(fault_scores(o["fault"], fl.argmax(-1).numpy(), y, self.classes))
            res["score"] = f1 + self.fault.score_weight * res["fault_macro_f1"]
        return res

    def evaluate(self, model: torch.nn.Module, loader: Iterable, device: torch.device | None = None) -> dict[str, Any]:
        """:meth:`scores` of :meth:`outputs` over the loader."""
        return self.scores(self.outputs(model, loader, device))

    @property
    def classes(self) -> list[str]:
        return list(json.loads((self.data_dir / "dataset.json").read_text())["classes"])

    def epoch_row(self, val: dict) -> dict[str, float]:
        row = {"val_accuracy": val["accuracy"], "val_macro_f1": val["macro_f1"], "val_nll": val["nll"]}
        for v in self.views:
            row[f"val_{v}_accuracy"], row[f"val_{v}_nll"] = val[f"{v}_accuracy"], val[f"{v}_nll"]
        if "fault_macro_f1" in val:
            row["val_fault_macro_f1"] = val["fault_macro_f1"]
            row["val_nll_fault"] = nll_fault(val)
            if set(self.views) == set(MASKED_VIEWS):
                row["val_nll_fault_masked"] = nll_fault_masked(val)
        return row

    def describe(self, val: dict) -> str:
        fault = f", fault macro-F1 {val['fault_macro_f1']:.3f}" if "fault_macro_f1" in val else ""
        return f"val acc {val['accuracy']:.3f} macro-F1 {val['macro_f1']:.3f}{fault}"

    def summary(self, val: dict, test: dict) -> dict[str, Any]:
        out = {"val_accuracy": val["accuracy"], "val_macro_f1": val["macro_f1"], "test_accuracy": test["accuracy"],
               "test_macro_f1": test["macro_f1"], "val_nll": val["nll"], "test_nll": test["nll"], "n_val": val["n"],
               "n_test": test["n"]}
        for split, res in (("val", val), ("test", test)):
            for key in ("fault_accuracy", "fault_macro_f1", "fault_macro_f1_per_action"):
                if key in res:
                    out[f"{split}_{key}"] = res[key]
            for v in self.views:
                out[f"{split}_{v}_accuracy"], out[f"{split}_{v}_nll"] = res[f"{v}_accuracy"], res[f"{v}_nll"]
            if "fault_macro_f1" in res:
                out[f"{split}_nll_fault"] = nll_fault(res)
                if set(self.views) == set(MASKED_VIEWS):
                    out[f"{split}_nll_fault_masked"] = nll_fault_masked(res)
        return out


class TorqueTask:
    kind = "torque"
    augment = False                  # rotating / dropping inputs would break the physics they feed
    score_name, score_key = "val_rmse_nm_per_kg", "rmse_nm_per_kg"

    def __init__(self, data_dir: Path, batch_size: int, seed: int):
        from preprocessing.dataset import WindowDataset

        self.data_dir, self.batch_size, self.seed = Path(data_dir), batch_size, seed
        self._ds = {}
        for split in ("train", "val", "test"):
            ds = WindowDataset(self.data_dir, split, video=False)  # prepare() keeps no pixels
            if "root" not in ds.arrays:
                raise ValueError(f"{self.data_dir}: processed before format 1.1 (no pelvis 'root' field); "
                                 "re-run the preprocess stage")
            keep = np.flatnonzero(np.asarray(ds.arrays["modality_mask"][:, 3], dtype=bool))
            self._ds[split] = Subset(ds, keep.tolist())
        if len(self._ds["train"]) == 0:
            raise ValueError(f"{self.data_dir}: no training window has force plates (the torque estimators "
                             "need GRF); generate 'pro' preset clips")

    def n_windows(self, split: str) -> int:
        return len(self._ds[split])

    def train_loader(self, epoch: int) -> DataLoader:
        g = torch.Generator().manual_seed(self.seed + epoch)
        return DataLoader(self._ds["train"], batch_size=self.batch_size, shuffle=True, generator=g)

    def loader(self, split: str, max_windows: int | None = None) -> DataLoader:
        if max_windows:
            return _subset(self._ds[split], self.batch_size, max_windows, self.seed)
        return DataLoader(self._ds[split], batch_size=self.batch_size, shuffle=False)

    def prepare(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Physical GRF (the estimators' unit), only the fields they read."""
        from preprocessing.dataset import grf_to_physical

        return {"angles": batch["angles"], "root": batch["root"], "anthro": batch["anthro"],
                "grf": grf_to_physical(batch["grf"], self.data_dir), "moments": batch["moments"]}

    def losses(self, outputs, batch) -> dict[str, torch.Tensor]:
        from models.torque import moment_loss

        loss = moment_loss(outputs["moments"], batch["moments"], batch["anthro"][:, 0])
        return {"total": loss, "moment_rmse": loss.detach()}

    def predict(self, model: torch.nn.Module, loader: Iterable,
                device: torch.device | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pred, target) (N,T,10) N m and mass (N,) over the loader."""
        model.eval()
        ps, ts, ms = [], [], []
        with torch.no_grad():
            for batch in loader:
                b = self.prepare(batch)
                ps.append(model(to_device(b, device))["moments"].cpu().numpy())
                ts.append(b["moments"].numpy())
                ms.append(b["anthro"][:, 0].numpy())
        if not ps:
            return np.zeros((0, 1, 10)), np.zeros((0, 1, 10)), np.zeros(0)
        return np.concatenate(ps), np.concatenate(ts), np.concatenate(ms)

    def evaluate(self, model: torch.nn.Module, loader: Iterable, device: torch.device | None = None) -> dict[str, Any]:
        """{"rmse_nm_per_kg", "score" (its negative), "n", and torque_metrics' per-joint RMSE (N m),
        ICC(3,1) and Pearson r} over every frame of the loader's windows."""
        from models.torque import torque_metrics

        pred, target, mass = self.predict(model, loader, device)
        if len(mass) == 0:
            return {"n": 0, "rmse_nm_per_kg": float("nan"), "score": float("nan")}
        per_kg = float(np.sqrt(np.mean(((pred - target) / mass[:, None, None]) ** 2)))
        return {"n": int(len(mass)), "rmse_nm_per_kg": per_kg, "score": -per_kg, **torque_metrics(pred, target)}

    def epoch_row(self, val: dict) -> dict[str, float]:
        return {"val_rmse_nm_per_kg": val["rmse_nm_per_kg"], "val_mean_rmse_nm": val.get("mean_rmse", float("nan")),
                "val_mean_icc": val.get("mean_icc", float("nan"))}

    def describe(self, val: dict) -> str:
        return (f"val RMSE {val['rmse_nm_per_kg']:.3f} N m/kg (mean {val.get('mean_rmse', float('nan')):.1f} N m), "
                f"ICC {val.get('mean_icc', float('nan')):.3f}")

    def summary(self, val: dict, test: dict) -> dict[str, Any]:
        out = {"val_rmse_nm_per_kg": val["rmse_nm_per_kg"], "test_rmse_nm_per_kg": test["rmse_nm_per_kg"],
               "n_val": val["n"], "n_test": test["n"]}
        for key in ("mean_rmse", "mean_icc", "mean_pearson"):
            out[f"test_{key}"] = test.get(key, float("nan"))
        for key in ("rmse", "icc", "pearson"):
            out[f"test_{key}"] = test.get(key, {})
        return out


def make_task(kind: str, data_dir: Path, num_classes: int, batch_size: int, seed: int,
              loss_cfg: Mapping[str, Any], balance: str = "loss", num_faults: int = 0,
              fault: Mapping[str, Any] | None = None, views: Sequence[str] = (), video: bool = True):
    """The task of a model ``kind``; ``video=False``: the recognizer's batches carry no pixels."""
    if kind == "torch":
        return ClassificationTask(data_dir, num_classes, batch_size, seed, loss_cfg, balance, num_faults, fault,
                                  views, video)
    if kind == "torque":
        return TorqueTask(data_dir, batch_size, seed)
    raise ValueError(f"no training task for model kind {kind!r}")
