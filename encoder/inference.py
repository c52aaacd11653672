"""Images to vectors with a trained encoder: what the embedding job, new-image queries and fine-tuning load.

    emb = Embedder.from_checkpoint("lensdb-data/encoder/checkpoint.pt", device="cuda")
    vectors = emb.embed(images)   # (N, 3, S, S) nanomaggies g, r, z -> (N, 2048) float32, un-normalised
                                  # (whitened when the checkpoint holds a whitening: encoder.whitening)
    emb.version                   # "resnet50_1a2b3c4d5e6f": one vector collection per version
    Embedder.from_checkpoint(path, orientations=8)   # each vector the mean over the 8 orientations (another version)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from lensdb.encoder.backbones import Backbone, build_backbone
from lensdb.encoder.checkpoint import Checkpoint, backbone_state, encoder_version, load_checkpoint, load_state
from lensdb.encoder.config import EMBED_DIM, EncoderConfig
from lensdb.encoder.orientation import averaged, check_orientations
from lensdb.encoder.transforms import inference_pipeline
from lensdb.encoder.transforms.base import check_batch
from lensdb.encoder.transforms.crop import host_centre_crop
from lensdb.encoder.whitening import Whitening


class Embedder:
    """A frozen backbone plus the inference pipeline (centre crop, arcsinh stretch), in eval mode.

    Args:
        backbone: the trained backbone ((N, 3, crop, crop) RGB -> (N, 2048)).
        config: the training config (gives the crop).
        version: the encoder version string.
        device: where to run.
        precision: ``fp32``, or ``bf16`` autocast on CUDA (faster, about 3 significant digits).
        whitening: applied to the backbone's output when given (:class:`lensdb.encoder.whitening.Whitening`), kept on
            ``device``; ``embed(..., whiten=False)`` reads the raw backbone.
        orientations: 1 or 8 (average over rotations by 90 degrees x flips, :mod:`lensdb.encoder.orientation`); None =
            the config's. ``version`` must be the version of that setting (:meth:`from_loaded` computes it).

    Attributes:
        dim: 2048. crop: network input side, pixels; cutouts must be at least this large.
    """

    dim = EMBED_DIM

    def __init__(
        self,
        backbone: Backbone,
        config: EncoderConfig,
        version: str,
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        whitening: Whitening | None = None,
        orientations: int | None = None,
    ) -> None:
        if orientations is not None and orientations != config.orientations:
            config = dataclasses.replace(config, orientations=check_orientations(orientations))
        self.config, self.version, self.device = config, version, torch.device(device)
        self.orientations = config.orientations
        self.whitening = None if whitening is None else whitening.to(self.device)
        self.crop = config.crop
        self.precision = precision
        self.pipeline = inference_pipeline(config.crop)
        self.backbone = backbone.to(self.device).eval()
        if self.device.type == "cuda":
            self.backbone.to(memory_format=torch.channels_last)
        for p in self.backbone.parameters():
            p.requires_grad_(False)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device | None = None, precision: str = "fp32",
        orientations: int | None = None,
    ) -> Embedder:
        """Load the query backbone of a checkpoint (errors as :func:`lensdb.encoder.checkpoint.load_checkpoint`)."""
        return cls.from_loaded(load_checkpoint(path), device, precision, what=f"checkpoint {path}",
                               orientations=orientations)

    @classmethod
    def from_loaded(
        cls, ckpt: Checkpoint, device: str | torch.device | None = None, precision: str = "fp32",
        what: str = "checkpoint", orientations: int | None = None,
    ) -> Embedder:
        """The same from a checkpoint already read with :func:`lensdb.encoder.checkpoint.load_checkpoint`.

        ``orientations`` (1 or 8) overrides the checkpoint's setting; the version is then that of the other setting
        (another collection), with the checkpoint's whitening kept as it is.
        """
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        backbone = build_backbone(ckpt.config)
        load_state(backbone, backbone_state(ckpt.model), what)
        whitening = None if ckpt.whitening is None else Whitening.from_state(ckpt.whitening, EMBED_DIM)
        config, version = ckpt.config, ckpt.version
        if orientations is not None and orientations != config.orientations:
            config = dataclasses.replace(config, orientations=check_orientations(orientations))
            version = encoder_version(config, ckpt.model, ckpt.whitening)
        return cls(backbone, config, version, device, precision, whitening)

    @torch.no_grad()
    def embed(self, images: torch.Tensor | np.ndarray, batch_size: int = 256, whiten: bool = True) -> torch.Tensor:
        """Representations of raw cutouts.

        Args:
            images: (N, 3, S, S) nanomaggies, bands g, r, z, float16/32 (numpy or torch), S >= ``crop``.
            batch_size: images per forward pass (bounds device memory).
            whiten: apply :attr:`whitening` when there is one; False gives the raw backbone's output.

        Returns:
            (N, 2048) float32 on the CPU, not normalised (the vector store keeps the unit vector and the
            norm); whitened when :attr:`whitening` is set.
        """
        x = torch.as_tensor(images)
        check_batch(x)
        out = torch.empty((x.shape[0], self.dim), dtype=torch.float32)
        amp = self.device.type == "cuda" and self.precision == "bf16"
        for i in range(0, x.shape[0], batch_size):
            chunk = host_centre_crop(x[i : i + batch_size], self.crop).to(self.device, non_blocking=True).float()
            chunk = self.pipeline(chunk)
            if self.device.type == "cuda":
                chunk = chunk.contiguous(memory_format=torch.channels_last)
            raw = self.represent(chunk, amp)
            out[i : i + batch_size] = (self.finish(raw) if whiten else raw).cpu()
        return out

    def represent(self, chunk: torch.Tensor, amp: bool = False) -> torch.Tensor:
        """The raw (N, 2048) float32 representation of stretched, centre-cropped network input ``chunk``: the backbone,
        averaged over the orientations when :attr:`orientations` is 8; bf16 autocast when ``amp``. Both the embedding
        job (:class:`lensdb.encoder.batch.BatchEncoder`) and :meth:`embed` run it, on any device."""

        def forward(x: torch.Tensor) -> torch.Tensor:
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=amp):
                return self.backbone(x).float()

        return averaged(forward, chunk, self.orientations)

    def finish(self, raw: torch.Tensor) -> torch.Tensor:
        """The backbone's (N, 2048) output -> the stored representation (whitened when there is a whitening)."""
        return raw if self.whitening is None else self.whitening.apply(raw)

    __call__ = embed


def load_encoder(
    path: str | Path, device: str | torch.device | None = None, precision: str = "fp32"
) -> Embedder:
    """Shorthand for :meth:`Embedder.from_checkpoint`."""
    return Embedder.from_checkpoint(path, device, precision)
