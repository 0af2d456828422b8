"""Shared base for every schema: strict about unknown fields, versioned."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# Bumped when a field is renamed or removed; adding optional fields keeps it.
SCHEMA_VERSION = 1


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
