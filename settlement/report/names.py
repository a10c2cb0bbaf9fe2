"""File names of the statements (文件名): safe, unique, and at most 255 bytes.

``<id>_<name>.xlsx`` with the characters Windows forbids (``<>:"/\\|?*``, control characters)
replaced by ``_`` and leading/trailing spaces and dots removed. Two rules make the names
safe on every file system:

* **Cut by bytes, not characters.** Linux and macOS limit a name to 255 *bytes* (UTF-8); a
  Chinese character takes 3. The stem is cut at a character boundary so that the name with
  its longest extension (``.xlsx``) fits: a 90-character Chinese unit name (270 bytes) is cut
  to 83 characters after the id.
* **Never collide.** ``V/1`` and ``V:1`` both sanitise to ``V_1``; names that match after
  sanitising (case-insensitively, as on Windows and macOS) each get ``_`` + the first 8 hex
  digits of the SHA-256 of their original id, so neither overwrites the other and the name
  does not depend on the order of the units.

Example: ``safe_stem("01001", "张庄村卫生室") == "01001_张庄村卫生室"``.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

MAX_BYTES = 255
EXTENSION = ".xlsx"
_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')


def cut_bytes(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 encoding is at most ``limit`` bytes."""
    data = text.encode("utf-8")[:max(limit, 0)]
    return data.decode("utf-8", errors="ignore")


def safe_stem(key: str, name: str, reserve: int = 0) -> str:
    """Sanitised ``<key>_<name>`` cut so that stem + reserve + ``.xlsx`` ≤ 255 bytes."""
    stem = _FORBIDDEN.sub("_", f"{key}_{name}" if name else str(key)).strip(" .")
    budget = MAX_BYTES - len(EXTENSION.encode()) - reserve
    return cut_bytes(stem, budget).rstrip(" .") or "_"


def unique_stems(items: list[tuple[str, str]]) -> list[str]:
    """One stem per (id, name), unique case-insensitively; colliding ones get an id hash."""
    plain = [safe_stem(k, n) for k, n in items]
    counts = Counter(s.casefold() for s in plain)
    out = []
    for (key, name), stem in zip(items, plain):
        if counts[stem.casefold()] > 1:
            tag = hashlib.sha256(str(key).encode("utf-8")).hexdigest()[:8]
            stem = safe_stem(key, name, reserve=9) + f"_{tag}"
        out.append(stem)
    return out


def unique_paths(folder: Path, items: list[tuple[str, str]], ext: str = EXTENSION) -> list[Path]:
    return [Path(folder) / f"{stem}{ext}" for stem in unique_stems(items)]
