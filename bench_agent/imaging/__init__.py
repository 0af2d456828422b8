"""Imaging: the master-image catalogue, cache and fetch, and the verified block-map writer."""

from __future__ import annotations

from bench_agent.imaging.catalogue import (
    find_image,
    images_dir,
    load_catalogue,
    station_images_dir,
)
from bench_agent.imaging.choose import choose_image
from bench_agent.imaging.fetch import ensure_local
from bench_agent.imaging.journal import interrupted_jobs
from bench_agent.imaging.writer import write_image
from bench_agent.models.image import ImageEntry, ImageReport, MappedRange

__all__ = [
    "ImageEntry",
    "ImageReport",
    "MappedRange",
    "choose_image",
    "ensure_local",
    "find_image",
    "images_dir",
    "interrupted_jobs",
    "load_catalogue",
    "station_images_dir",
    "write_image",
]
