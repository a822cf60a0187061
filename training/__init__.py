"""training: one loop for every architecture of the zoo, tracking attached from outside.

    training.loop.train(model_name, model_cfg, train_cfg, data_dir, out_dir, tracker=None) -> metrics
    training.loop.TrainParams        the common settings (params.yaml section `train`, pydantic, extra=forbid)
    training.tracking.MlflowTracker  the one MLflow helper (params, tags, per-epoch metrics, logged model)
    torchrun --nproc_per_node N -m stages.train <arch>   the same loop under DDP (see training.loop)
"""
from .loop import TrainParams, train

__all__ = ["TrainParams", "train"]
