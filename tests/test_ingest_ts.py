"""UEA/UCR .ts importer on the real BasicMotions archive (from sktime's wheel); the models trained
and scored on it: tests/test_basicmotions.py."""
from __future__ import annotations

import numpy as np
import pytest

from ingest import IngestError
from ingest.ts_archive import read_ts
from tests.real_data import CACHE, fetch_pose2sim


@pytest.fixture(scope="module")
def archive_dir():
    fetch_pose2sim()  # the same script fetches BasicMotions
    return CACHE / "basicmotions"


def test_basicmotions_reads_as_the_archive_describes(archive_dir):
    train, test = read_ts(archive_dir / "BasicMotions_TRAIN.ts"), read_ts(archive_dir / "BasicMotions_TEST.ts")
    assert train.name == "BasicMotions" and train.X.shape == (40, 6, 100) and test.X.shape == (40, 6, 100)
    assert set(train.classes) == {"Standing", "Running", "Walking", "Badminton"}
    assert all((train.y == c).sum() == 10 for c in train.classes)
    assert np.isfinite(train.X).all()
    # running shakes the watch more than standing (accelerometer channels 0-2)
    sd = {c: train.X[train.y == c, :3].std(axis=2).mean() for c in train.classes}
    assert sd["Running"] > 3 * sd["Standing"]


def test_ts_errors_name_file_and_line(tmp_path):
    p = tmp_path / "bad.ts"
    p.write_text("@problemName X\n@dimensions 2\n@classLabel true a b\n@data\n1,2:3,4:a\n1,2:c\n")
    with pytest.raises(IngestError, match=r"bad.ts: line 6: 1 dimensions, header says 2"):
        read_ts(p)
    p.write_text("@problemName X\n@dimensions 1\n@classLabel true a b\n@data\n1,x:a\n")
    with pytest.raises(IngestError, match="line 5: not a number"):
        read_ts(p)
    p.write_text("@problemName X\n@classLabel true a\n1,2:a\n")
    with pytest.raises(IngestError, match="line 3: expected a '@key value' header line"):
        read_ts(p)
