"""Importers of real data into the raw layout (see README "Bring your own data").

* `ingest.video`    : a video file -> MediaPipe Pose landmarks per frame (`landmarks_from_video`),
                      written as the raw layout's ``keypoints.npz``.
* `ingest.dataset`  : a folder of videos plus a labels CSV -> a raw dataset
                      (``athlete-mm ingest-video``, the ``ingest`` DVC stage).
* `biomech.ik`      : landmarks -> OpenSim inverse kinematics -> joint angles (``angles.mot``).
* `ingest.opensim_lab`: a lab's ``.osim`` + ``.trc`` + GRF ``.mot`` -> IK angles, ID moments.
* `ingest.ts_archive`, `ingest.basicmotions`: UEA / UCR ``.ts`` IMU archives -> a processed
                      dataset (pipelines/basicmotions/dvc.yaml) and its evaluation report.
* `ingest.quality`  : the quality gates (pose found, anthropometry, IK marker error, gap-fill limit).

Every importer raises `IngestError` (a `biomech.io.RawDataError`) whose message names the file
and says what to do, instead of a stack trace or silently dropped data.
"""
from __future__ import annotations

from biomech.io import RawDataError


class IngestError(RawDataError):
    """A real input cannot be imported; the message names the file, what was seen and what to do."""
