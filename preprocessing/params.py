"""Parameters of the `preprocess` stage (params.yaml section `preprocess`), validated by pydantic.

Every filter can be switched off and tuned here; unknown keys are errors (extra=forbid).
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WindowParams(_Strict):
    length: int = Field(default=64, ge=32, le=96)      # timeline samples per window
    stride: int = Field(default=32, ge=1, le=96)
    video_frames: int = Field(default=8, ge=1, le=96)  # Tv: frames per window (temporal subsample)
    # a window is cut only where the athlete performs the action: at least this share of its frames
    # in the clip's core phase (sigproc.phases: the athlete moves); idle stretches carry no action label
    min_core_fraction: float = Field(default=0.0, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _tv(self):
        if self.video_frames > self.length:
            raise ValueError(f"video_frames={self.video_frames} must be <= length={self.length}")
        return self


class VideoParams(_Strict):
    width: int = Field(default=64, ge=16, le=512)
    height: int = Field(default=64, ge=16, le=512)


class SplitParams(_Strict):
    train: float = Field(default=0.70, gt=0, lt=1)
    val: float = Field(default=0.15, ge=0, lt=1)
    test: float = Field(default=0.15, ge=0, lt=1)

    @model_validator(mode="after")
    def _sum(self):
        s = self.train + self.val + self.test
        if abs(s - 1.0) > 1e-6:
            raise ValueError(f"train + val + test = {s:g} must be 1")
        return self


class SyncParams(_Strict):
    enabled: bool = True
    # image: the detector's image landmarks (the real case: no lab markers); ground: the noise-free
    # lab-frame landmarks of synthetic data (privileged)
    landmark_source: Literal["image", "ground"] = "image"
    use_shanks: bool = True       # shank IMUs vs shank landmarks as extra xcorr channels
    grf_use_com: bool = True      # landmark centre of mass (else hip midpoint) vs total Fy
    max_lag_s: float = Field(default=0.15, gt=0, le=1.0)
    xcorr_rate_hz: float = Field(default=250.0, ge=50, le=2000)
    lowpass_hz: float = Field(default=8.0, gt=0, le=30)        # band of the comparable signals
    dtw: bool = True
    dtw_rate_hz: float = Field(default=100.0, ge=50, le=2000)
    dtw_search_s: float = Field(default=0.02, gt=0, le=0.2)
    dtw_max_shift_s: float = Field(default=0.05, gt=0, le=0.2)  # larger DTW corrections are rejected


class ButterParams(_Strict):
    enabled: bool = True
    order: int = Field(default=4, ge=1, le=8)
    imu_cutoff_hz: float = Field(default=20.0, gt=0)
    grf_cutoff_hz: float = Field(default=20.0, gt=0)


class KalmanParams(_Strict):
    enabled: bool = True
    acc_process_noise: float = Field(default=2.0e4, gt=0)   # (m/s^2)^2 / s^3
    acc_measurement_noise: float = Field(default=0.05, gt=0)  # (m/s^2)^2
    gyro_process_noise: float = Field(default=4.0e2, gt=0)  # (rad/s)^2 / s^3 (same q/r as acc: one pass)
    gyro_measurement_noise: float = Field(default=1.0e-3, gt=0)  # (rad/s)^2


class SavgolParams(_Strict):
    enabled: bool = True
    window_s: float = Field(default=0.11, gt=0, le=1.0)
    polyorder: int = Field(default=3, ge=1, le=6)


class ExpSmoothParams(_Strict):
    enabled: bool = True
    alpha: float = Field(default=0.6, gt=0, le=1)


class IqrParams(_Strict):
    enabled: bool = True
    k: float = Field(default=1.5, gt=0)
    block_s: float = Field(default=0.25, gt=0, le=10)  # fences per block (follow the signal level)


class GapFillParams(_Strict):
    method: Literal["cubic", "pchip", "akima", "linear"] = "cubic"
    rmse_drop_fraction: float = Field(default=0.03, ge=0, le=0.2)  # re-insertion test per clip
    # the gap-fill limit: a clip with a longer stretch without data inside a stream (landmarks:
    # frames without a detection; IMU / plates: dropped or NaN samples) fails (or is skipped with
    # skip_bad_clips) naming the stream and the gap; null = no limit
    max_gap_s: float | None = Field(default=None, gt=0)


class ZeroDriftParams(_Strict):
    enabled: bool = True
    unloaded_threshold_n: float = Field(default=20.0, gt=0)
    order: int = Field(default=1, ge=0, le=3)


class FilterParams(_Strict):
    butterworth: ButterParams = ButterParams()
    kalman_imu: KalmanParams = KalmanParams()
    savgol: SavgolParams = SavgolParams()
    exp_smoothing: ExpSmoothParams = ExpSmoothParams()
    iqr: IqrParams = IqrParams()
    gap_fill: GapFillParams = GapFillParams()
    zero_drift: ZeroDriftParams = ZeroDriftParams()


class AttitudeParams(_Strict):
    method: Literal["complementary", "kalman"] = "complementary"
    rate_hz: float = Field(default=100.0, ge=25, le=1000)  # rounded to a multiple of timeline_hz
    gain: float = Field(default=0.02, ge=0, le=1)            # complementary
    # complementary: initial tilt from the mean specific force of the first init_s seconds (a clip that
    # starts mid-stride has a first sample far from gravity), tilt correction only while
    # | |acc| - g | <= acc_gate * g (null: always)
    init_s: float = Field(default=0.5, ge=0, le=5)
    acc_gate: float | None = Field(default=0.25, gt=0)
    gyro_noise: float = Field(default=0.01, gt=0)            # kalman
    acc_noise: float = Field(default=0.5, gt=0)              # kalman
    euler_seq: str = Field(default="ZXY", pattern=r"^([XYZ]{3}|[xyz]{3})$")


class LandmarkParams(_Strict):
    # world: detector-like MediaPipe world landmarks (what a pose detector gives); world_true: the
    # noise-free ones of synthetic data (privileged, for comparison only)
    source: Literal["world", "world_true"] = "world"
    min_detected_fraction: float = Field(default=0.5, ge=0, le=1)  # frames with a detection, per clip
    view_normalize: bool = True                             # hip line to one heading per window
    root: list[int] = [23, 24]                              # hip midpoint
    ref: list[list[int]] = [[11, 12], [23, 24]]             # trunk length = unit


class PhaseParams(_Strict):
    # energy of the phases (sigproc.phases): "imu", the body segments' gyroscope rates when the clip
    # has IMU (the landmarks' energy otherwise); "landmarks", the landmarks' when the clip has them.
    # The default is the earlier behaviour, so that stored parameters without the key (a dataset's
    # or a served bundle's) keep meaning what they meant; params.yaml sets "imu"
    source: Literal["imu", "landmarks"] = "landmarks"
    core_threshold: float = Field(default=0.3, gt=0, lt=1)   # landmark energy: share of the clip's max
    smooth_s: float = Field(default=0.1, ge=0, le=2)
    # IMU energy: core where sum over sensors of |gyro|^2 > this (rad^2/s^2), an absolute floor
    imu_min_energy: float = Field(default=0.1, gt=0)


class AnglesParams(_Strict):
    # the joint-angle targets (angles / root fields): "generator" reads the clip's angles.mot (the
    # generator's ground truth, or an importer's IK); "ik" runs the project's OpenSim IK
    # (biomech.ik, as ingest-video and the service do) on the clip's detector-like world landmarks,
    # so the targets are what a real camera-only dataset would have (root then in the landmark frame)
    source: Literal["generator", "ik"] = "generator"
    min_visibility: float = Field(default=0.5, ge=0, le=1)   # landmarks below it are left out of the IK


class PreprocessParams(_Strict):
    dataset: str = Field(default="synth", pattern=r"^[A-Za-z0-9_\-]+$")
    raw_dir: str = "data/raw"
    out_dir: str = "data/processed"
    report_dir: str = "reports/preprocess"
    seed: int = Field(default=20261122, ge=0)
    workers: int = Field(default=2, ge=1, le=256)
    skip_bad_clips: bool = False
    timeline_hz: float = Field(default=50.0, ge=10, le=500)
    window: WindowParams = WindowParams()
    video: VideoParams = VideoParams()
    split: SplitParams = SplitParams()
    sync: SyncParams = SyncParams()
    filters: FilterParams = FilterParams()
    attitude: AttitudeParams = AttitudeParams()
    landmarks: LandmarkParams = LandmarkParams()
    angles: AnglesParams = AnglesParams()
    phases: PhaseParams = PhaseParams()
    plots: bool = True
    evaluate_sync: bool = True   # compare recovered offsets with meta.json synthetic_truth (report only)

    @model_validator(mode="after")
    def _cutoffs(self):
        b = self.filters.butterworth
        if b.enabled and max(b.imu_cutoff_hz, b.grf_cutoff_hz) >= self.timeline_hz / 2:
            raise ValueError(f"filters.butterworth cut-offs ({b.imu_cutoff_hz:g}, {b.grf_cutoff_hz:g} Hz) must be "
                             f"below the timeline Nyquist frequency timeline_hz/2 = {self.timeline_hz / 2:g} Hz "
                             "(they are the anti-alias filters)")
        if self.window.stride > self.window.length:
            raise ValueError(f"window.stride={self.window.stride} must be <= window.length={self.window.length}")
        return self
