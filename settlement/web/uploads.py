"""Uploaded data folders (上传数据): a zip of the folder, or the tables themselves.

Each upload becomes ``<workdir>/uploads/<id>/`` holding the tables at its top level (what the
loader reads). A zip may hold the tables at its root or inside one folder; paths are never
trusted: only the file name of each member is kept (no ``..``, no absolute path), and only
table files (``.csv``, ``.xlsx``, ``.parquet``) are taken. Sizes are capped.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

TABLE_SUFFIXES = (".csv", ".xlsx", ".parquet")
MAX_UNZIPPED = 2 * 1024**3  # 2 GiB of tables at most from one zip
UPLOAD_ID = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{6}$")


class UploadError(Exception):
    """An upload that cannot be used, worded for the user."""


@dataclass
class Upload:
    id: str
    folder: Path
    files: list[str]


def safe_name(name: str) -> str:
    """The last path component of an uploaded name, without characters no file system takes."""
    base = PurePosixPath(name.replace("\\", "/")).name
    base = re.sub(r'[<>:"|?*\x00-\x1f]', "_", base).strip(" .")
    if not base:
        raise UploadError(f"文件名无效 invalid file name: {name!r}")
    return base


def new_upload(root: Path) -> Upload:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    upload_id = f"{stamp}-{secrets.token_hex(3)}"
    folder = root / "uploads" / upload_id
    folder.mkdir(parents=True)
    return Upload(upload_id, folder, [])


def find_upload(root: Path, upload_id: str) -> Upload | None:
    """An existing upload by id (the id's shape is checked: it never names another path)."""
    if not UPLOAD_ID.match(upload_id):
        return None
    folder = root / "uploads" / upload_id
    if not folder.is_dir():
        return None
    return Upload(upload_id, folder, sorted(p.name for p in folder.iterdir() if p.is_file()))


def add_file(upload: Upload, filename: str, stream) -> None:
    """Store one uploaded file: a zip is unpacked, a table file is kept as it is."""
    name = safe_name(filename)
    if name.lower().endswith(".zip"):
        _unzip(upload, stream)
        return
    if not name.lower().endswith(TABLE_SUFFIXES):
        raise UploadError(f"不支持的文件类型 unsupported file: {name}（请上传 zip、xlsx、csv 或 parquet）")
    with open(upload.folder / name, "wb") as out:
        shutil.copyfileobj(stream, out)
    upload.files.append(name)


def _unzip(upload: Upload, stream) -> None:
    try:
        archive = zipfile.ZipFile(stream)
    except zipfile.BadZipFile as exc:
        raise UploadError("压缩包无法打开 the zip file cannot be read") from exc
    members = [m for m in archive.infolist() if not m.is_dir()
               and PurePosixPath(m.filename).name.lower().endswith(TABLE_SUFFIXES)
               and not PurePosixPath(m.filename).name.startswith(("~$", "."))
               and "__MACOSX" not in m.filename]
    if not members:
        raise UploadError("压缩包中没有数据表（csv / xlsx / parquet）no table files in the zip")
    if sum(m.file_size for m in members) > MAX_UNZIPPED:
        raise UploadError("压缩包解压后过大 the zip is too large when unpacked")
    names = [safe_name(m.filename) for m in members]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UploadError(f"压缩包中有同名文件 duplicate file names in the zip: {', '.join(twice)}")
    for member, name in zip(members, names):
        with archive.open(member) as src, open(upload.folder / name, "wb") as out:
            shutil.copyfileobj(src, out)
        upload.files.append(name)
