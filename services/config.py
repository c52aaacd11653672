"""Typed tunables of the service layer, read from the ``[service]`` section of the config file::

    [service]
    encoder_version = "resnet50_1a2b3c4d5e6f"
    max_page_size = 1000

They bound what one request may ask (ids, page sizes, radii, cutout sizes) and say which encoder answers by default,
whichever face asks: the gRPC API (whose own server settings are ``[serve]``, see
:class:`lensdb.api_grpc.config.ServeConfig`), the web page or the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass

from lensdb.core.config import ConfigError, Settings, load_section


@dataclass(frozen=True)
class ServiceConfig:
    """What the services allow and use.

    Attributes:
        encoder_version: vectors searched by default; empty = the checkpoint's version, else the only LensDB
            collection in Milvus.
        checkpoint: encoder checkpoint for cutout queries (default ``<data_dir>/encoder/checkpoint.pt`` when
            it exists); without one, cutout queries fail with a precondition error.
        page_size, max_page_size: default and largest page of listings (candidates, labels, cone matches).
        max_ids: most object ids in one request (lookups, scoring, labels, grades, exclusions).
        max_cone_arcsec: largest catalogue cone radius, arcsec.
        position_radius_arcsec, max_position_radius_arcsec: default and largest match radius of a query by sky
            position, arcsec.
        max_cutout_px: largest side of an uploaded cutout, pixels.
        embed_threads: torch CPU threads for cutout queries (0 = torch's default).
        pool_size: database connections kept open (a face serving N requests at once wants about N).
    """

    encoder_version: str = ""
    checkpoint: str = ""
    page_size: int = 100
    max_page_size: int = 1000
    max_ids: int = 10_000
    max_cone_arcsec: float = 3600.0
    position_radius_arcsec: float = 5.0
    max_position_radius_arcsec: float = 600.0
    max_cutout_px: int = 512
    embed_threads: int = 0
    pool_size: int = 16

    def __post_init__(self) -> None:
        for name in ("page_size", "max_page_size", "max_ids", "max_cutout_px", "pool_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"[service] {name} must be >= 1; got {getattr(self, name)}")
        for name in ("max_cone_arcsec", "position_radius_arcsec", "max_position_radius_arcsec"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"[service] {name} must be > 0; got {getattr(self, name)}")
        if self.page_size > self.max_page_size:
            raise ConfigError(f"[service] page_size {self.page_size} exceeds max_page_size {self.max_page_size}")
        if self.embed_threads < 0:
            raise ConfigError("[service] embed_threads must be >= 0")

    @classmethod
    def from_settings(cls, settings: Settings | None, **overrides) -> ServiceConfig:
        """The ``[service]`` section of the config file, with keyword overrides (``None`` = not given)."""
        return load_section(cls, settings, "service", **overrides)
