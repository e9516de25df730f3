"""Byte-level token pieces: GPT-2's printable stand-ins for raw bytes (``b' soft'`` <-> ``'Ġsoft'``) and
bytes as hex, as HF's ByteLevel pre-tokenizer and GPT-2 show them."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def _byte_to_unicode() -> list[str]:
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    table: dict[int, int] = {b: b for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = 256 + extra
            extra += 1
    return [chr(table[b]) for b in range(256)]


@functools.lru_cache(maxsize=1)
def _translation_tables() -> tuple[dict[int, str], dict[int, str]]:
    """str.translate tables between latin-1 characters (one per byte) and their stand-ins."""
    stand_ins = _byte_to_unicode()
    to_piece = {b: ch for b, ch in enumerate(stand_ins)}
    to_latin1 = {ord(ch): chr(b) for b, ch in enumerate(stand_ins)}
    for b in range(256):  # latin-1 characters that are not stand-ins must not pass as bytes
        to_latin1.setdefault(b, "\uffff")
    return to_piece, to_latin1


def bytes_to_piece(data: bytes) -> str:
    """GPT-2 display form of raw bytes: ``b' soft'`` -> ``'Ġsoft'``, ``b'\\n'`` -> ``'Ċ'``."""
    # latin-1 maps byte b to code point b; translate then swaps in the stand-ins at C speed
    return data.decode("latin-1").translate(_translation_tables()[0])


def piece_to_bytes(piece: str) -> bytes:
    """Inverse of :func:`bytes_to_piece`; raises KeyError on a character outside the mapping."""
    try:
        return piece.translate(_translation_tables()[1]).encode("latin-1")
    except UnicodeEncodeError as e:
        raise KeyError(piece[e.start]) from None


def hex_bytes(data: bytes) -> str:
    """``b'he'`` -> ``'68 65'``."""
    return " ".join(f"{b:02x}" for b in data)
