"""Overwrite patterns: zeros, or an AES-256-CTR keystream reproducible from a seed.

The keystream at any byte offset can be regenerated without producing what comes before it
(the CTR counter is the offset in 16-byte blocks), so verification re-creates exactly what was
written at the place it samples.
"""

from __future__ import annotations

import secrets
from typing import Literal

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PatternKind = Literal["zero", "random"]
AES_BLOCK = 16
# update_into() needs this much room past the data it writes.
PATTERN_SLACK = AES_BLOCK


class Pattern:
    """What a pass writes; ``fill`` puts the bytes for ``[offset, offset+length)`` in ``out``."""

    def __init__(self, kind: PatternKind, seed: bytes | None = None) -> None:
        self.kind: PatternKind = kind
        if kind == "random":
            self.seed = seed if seed is not None else secrets.token_bytes(32)
            if len(self.seed) != 32:
                raise ValueError("the random pattern needs a 32-byte seed")
        else:
            self.seed = b""
        self._zeros = b""
        self._zero_cache: dict[int, bytes] = {}

    @property
    def seed_hex(self) -> str:
        return self.seed.hex()

    def zeros(self, length: int) -> bytes:
        """``length`` zero bytes (cached: verification compares many same-sized samples)."""
        cached = self._zero_cache.get(length)
        if cached is None:
            cached = self._zero_cache[length] = bytes(length)
        return cached

    def _zero_source(self, length: int) -> bytes:
        if len(self._zeros) < length:
            self._zeros = bytes(length)
        return self._zeros

    def fill(self, out: memoryview, offset: int, length: int) -> None:
        """Write the pattern bytes of ``[offset, offset + length)`` at the start of ``out``.

        ``out`` must have ``length + PATTERN_SLACK`` bytes; ``offset`` is a multiple of 16.
        """
        if self.kind == "zero":
            out[:length] = self._zero_source(length)[:length]
            return
        if offset % AES_BLOCK:
            raise ValueError("pattern offsets must be multiples of 16 bytes")
        counter = (offset // AES_BLOCK).to_bytes(AES_BLOCK, "big")
        encryptor = Cipher(algorithms.AES(self.seed), modes.CTR(counter)).encryptor()
        source = memoryview(self._zero_source(length))[:length]
        encryptor.update_into(source, out[: length + PATTERN_SLACK])

    def expected(self, offset: int, length: int) -> bytes:
        """The pattern bytes of a range, as a new ``bytes`` (for verification)."""
        if self.kind == "zero":
            return self._zero_source(length)[:length]
        out = bytearray(length + PATTERN_SLACK)
        self.fill(memoryview(out), offset, length)
        return bytes(out[:length])

    def describe(self) -> str:
        return "zeros (0x00)" if self.kind == "zero" else "AES-256-CTR pseudo-random stream"
