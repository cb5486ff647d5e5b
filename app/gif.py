"""A small GIF89a writer (Qt reads GIF but cannot write it): indexed frames, LZW, looping.

Frames are (H, W) uint8 arrays of palette indices and a palette of up to 256 RGB colours.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def _lzw(indices: np.ndarray, min_code_size: int = 8) -> bytes:
    """GIF's variable-width LZW, packed LSB-first into bytes."""
    clear, end = 1 << min_code_size, (1 << min_code_size) + 1
    out = bytearray()
    bitbuf = nbits = 0

    def emit(code: int, width: int) -> None:
        nonlocal bitbuf, nbits
        bitbuf |= code << nbits
        nbits += width
        while nbits >= 8:
            out.append(bitbuf & 0xFF)
            bitbuf >>= 8
            nbits -= 8

    width = min_code_size + 1
    table: dict[bytes, int] = {bytes([i]): i for i in range(clear)}
    next_code = end + 1
    emit(clear, width)
    data = indices.tobytes()
    prefix = b""
    for ch in data:
        cand = prefix + bytes([ch])
        if cand in table:
            prefix = cand
            continue
        emit(table[prefix], width)
        if next_code < 4096:
            table[cand] = next_code
            next_code += 1
            if next_code > (1 << width) and width < 12:
                width += 1
        else:  # table full: start again
            emit(clear, width)
            table = {bytes([i]): i for i in range(clear)}
            next_code, width = end + 1, min_code_size + 1
        prefix = bytes([ch])
    if prefix:
        emit(table[prefix], width)
    emit(end, width)
    if nbits:
        out.append(bitbuf & 0xFF)
    return bytes(out)


def write_gif(path: str | Path, frames: list[np.ndarray], palette: np.ndarray, delay_ms: int = 100) -> None:
    """Write an endlessly looping animated GIF."""
    if not frames:
        raise ValueError("no frames to write")
    h, w = frames[0].shape
    pal = np.zeros((256, 3), np.uint8)
    pal[: len(palette)] = palette
    out = bytearray(b"GIF89a")
    out += struct.pack("<HHBBB", w, h, 0xF7, 0, 0)  # global colour table of 256 entries
    out += pal.tobytes()
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    for f in frames:
        if f.shape != (h, w):
            raise ValueError("all frames must have the same size")
        out += struct.pack("<BBBBHB", 0x21, 0xF9, 4, 0, max(1, delay_ms // 10), 0) + b"\x00"
        out += struct.pack("<BHHHHB", 0x2C, 0, 0, w, h, 0)
        out.append(8)
        data = _lzw(np.ascontiguousarray(f, dtype=np.uint8))
        for i in range(0, len(data), 255):
            chunk = data[i : i + 255]
            out.append(len(chunk))
            out += chunk
        out.append(0)
    out.append(0x3B)
    Path(path).write_bytes(bytes(out))
