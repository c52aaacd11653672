"""Images to vectors with a trained encoder: what the embedding job, new-image queries and fine-tuning load.

    emb = Embedder.from_checkpoint("lensdb-data/encoder/checkpoint.pt", device="cuda")
    vectors = emb.embed(images)   # (N, 3, S, S) nanomaggies g, r, z -> (N, 2048) float32, un-normalised
                                  # (whitened when the checkpoint holds a whitening: encoder.whitening)
    emb.version                   # "resnet50_1a2b3c4d5e6f": one vector collection per version
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lensdb.encoder.backbones import Backbone, build_backbone
from lensdb.encoder.checkpoint import Checkpoint, backbone_state, load_checkpoint, load_state
from lensdb.encoder.config import EMBED_DIM, EncoderConfig
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
    ) -> None:
        self.config, self.version, self.device = config, version, torch.device(device)
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
        cls, path: str | Path, device: str | torch.device | None = None, precision: str = "fp32"
    ) -> Embedder:
        """Load the query backbone of a checkpoint (errors as :func:`lensdb.encoder.checkpoint.load_checkpoint`)."""
        return cls.from_loaded(load_checkpoint(path), device, precision, what=f"checkpoint {path}")

    @classmethod
    def from_loaded(
        cls, ckpt: Checkpoint, device: str | torch.device | None = None, precision: str = "fp32",
        what: str = "checkpoint"
    ) -> Embedder:
        """The same from a checkpoint already read with :func:`lensdb.encoder.checkpoint.load_checkpoint`."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        backbone = build_backbone(ckpt.config)
        load_state(backbone, backbone_state(ckpt.model), what)
        whitening = None if ckpt.whitening is None else Whitening.from_state(ckpt.whitening, EMBED_DIM)
        return cls(backbone, ckpt.config, ckpt.version, device, precision, whitening)

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
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=amp):
                raw = self.backbone(chunk).float()
            out[i : i + batch_size] = (self.finish(raw) if whiten else raw).cpu()
        return out

    def finish(self, raw: torch.Tensor) -> torch.Tensor:
        """The backbone's (N, 2048) output -> the stored representation (whitened when there is a whitening)."""
        return raw if self.whitening is None else self.whitening.apply(raw)

    __call__ = embed


def load_encoder(
    path: str | Path, device: str | torch.device | None = None, precision: str = "fp32"
) -> Embedder:
    """Shorthand for :meth:`Embedder.from_checkpoint`."""
    return Embedder.from_checkpoint(path, device, precision)
