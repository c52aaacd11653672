"""Self-supervised encoder (MoCo v2) of LensDB: augmentations, models, training, checkpoints, inference.

Public surface (heavy modules are imported by whoever needs them, not here):

- :mod:`lensdb.encoder.transforms`: the paper's batched augmentations, ``training_pipeline``, ``inference_pipeline``;
- :mod:`lensdb.encoder.config`: ``EncoderConfig``, ``PRESETS`` (``resnet50``, ``small``), ``resolve_config``;
- :mod:`lensdb.encoder.moco`: ``MoCo``; :mod:`lensdb.encoder.backbones`: ``build_backbone`` (2048-d outputs);
- :mod:`lensdb.encoder.data`: ``select_training_sample``, ``ShardImages``;
- :mod:`lensdb.encoder.train`: ``train`` (one process or DDP under torchrun); :mod:`lensdb.encoder.checkpoint`;
- :mod:`lensdb.encoder.inference`: ``Embedder.from_checkpoint(path).embed(images)`` -> (N, 2048) vectors.
"""
