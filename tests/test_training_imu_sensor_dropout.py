"""train.augment.imu_sensor_dropout: training drops random subsets of the six IMU sensors, written
exactly as the robustness stage (and preprocessing.dataset.drop_imu_sensors) writes a missing
sensor, so a partial sensor set is in distribution for the fused models."""
from __future__ import annotations

import pytest
import torch

from biomech.conventions import IMU_SENSORS, MODALITIES
from evaluation import robustness as R
from models.testing import make_batch
from preprocessing import dataset as D
from training.loop import AugmentParams, augment_batch, imu_sensor_subsets

IMU = MODALITIES.index("imu")
S = len(IMU_SENSORS)


def _batch(B=400, T=16, seed=0):
    b = make_batch(B, T, Tv=2, H=8, W=8, num_classes=4, seed=seed)
    b["modality_mask"][:] = True
    b["imu"] = b["imu"] + 0.5            # no channel of a present sensor is 0 by chance
    return b


def _only_sensor_dropout(p: float) -> AugmentParams:
    return AugmentParams(rotation_deg=0, scale=(1.0, 1.0), imu_noise=0, grf_noise=0, modality_dropout=0,
                         imu_sensor_dropout=p)


def _zero_sensors(imu: torch.Tensor) -> torch.Tensor:
    return (imu == 0).all(1).all(-1)     # (B, S): every channel of the sensor 0 over the window


def test_augmentation_drops_random_subsets_of_one_to_five_sensors():
    b = _batch()
    b["modality_mask"][:50, IMU] = False                 # windows without an IMU stream stay as they are
    b["imu"][:50] = 0.0
    out = augment_batch(b, _only_sensor_dropout(1.0), torch.Generator().manual_seed(0))
    gone = _zero_sensors(out["imu"])
    k = gone[50:].sum(1)
    assert k.min() >= 1 and k.max() <= S - 1              # a subset, never none and never all six
    assert set(k.tolist()) == set(range(1, S))             # every subset size is drawn
    assert gone[50:].float().mean(0).min() > 0.3           # every sensor is among the dropped ones
    assert len({tuple(r) for r in gone[50:].int().tolist()}) > 30
    kept = ~gone[50:]
    assert torch.equal(out["imu"][50:].permute(0, 2, 1, 3)[kept], b["imu"][50:].permute(0, 2, 1, 3)[kept])
    assert out["modality_mask"][:, IMU].tolist() == b["modality_mask"][:, IMU].tolist()
    assert torch.equal(out["landmarks"], b["landmarks"]) and torch.equal(out["grf"], b["grf"])


def test_augmentation_probability_is_per_window():
    out = augment_batch(_batch(B=2000), _only_sensor_dropout(0.3), torch.Generator().manual_seed(1))
    share = _zero_sensors(out["imu"]).any(1).float().mean().item()
    assert share == pytest.approx(0.3, abs=0.04)


def test_off_leaves_the_batch_and_the_other_draws_unchanged():
    b = _batch(B=64)
    a = AugmentParams(imu_sensor_dropout=0.0)
    assert AugmentParams().imu_sensor_dropout == 0.0       # off in code (basicmotions' one-slot watch)
    x = augment_batch(b, a, torch.Generator().manual_seed(5))
    y = augment_batch(b, AugmentParams(), torch.Generator().manual_seed(5))
    for key in ("landmarks", "imu", "grf", "modality_mask"):
        assert torch.equal(x[key], y[key])
    assert not _zero_sensors(x["imu"][x["modality_mask"][:, IMU]]).any()


def test_training_writes_a_missing_sensor_as_the_robustness_stage_does():
    b = _batch(B=64)
    out = augment_batch(b, _only_sensor_dropout(1.0), torch.Generator().manual_seed(2))
    gone = _zero_sensors(out["imu"])
    ref = R.drop_imu_sensors(b, lambda i: gone[i].nonzero().flatten().tolist())
    assert torch.equal(out["imu"], ref["imu"]) and torch.equal(out["modality_mask"], ref["modality_mask"])
    assert R.drop_imu_sensors is D.drop_imu_sensors        # one implementation


def test_drop_imu_sensors_takes_a_per_window_mask_and_all_six_remove_the_stream():
    b = _batch(B=3)
    drop = torch.zeros(3, S, dtype=torch.bool)
    drop[0] = True
    drop[1, [2, 3]] = True
    out = D.drop_imu_sensors(b, drop)
    assert out["modality_mask"][:, IMU].tolist() == [False, True, True]
    assert torch.equal(_zero_sensors(out["imu"]), drop)
    assert torch.equal(out["imu"][2], b["imu"][2]) and out["imu"] is not b["imu"]
    with pytest.raises(ValueError, match=r"shape \(3, 5\): expected \(3, 6\)"):
        D.drop_imu_sensors(b, torch.zeros(3, 5, dtype=torch.bool))


def test_subsets_skip_windows_without_an_imu_stream():
    present = torch.tensor([True, False] * 50)
    drop = imu_sensor_subsets(present, S, 1.0, torch.Generator().manual_seed(0))
    assert not drop[~present].any() and drop[present].any(1).all()
