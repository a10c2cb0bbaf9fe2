"""Statements as PDF (``--pdf``): units print and stamp them, so each workbook also as a PDF.

Converted by LibreOffice (``soffice --headless --convert-to pdf``), in one call per folder,
with a private profile so parallel runs do not share one. The PDF sits beside its workbook
with the same name (``units/01001_张庄村卫生室.pdf``). Without LibreOffice nothing is
converted and :func:`convert_to_pdf` says so in Chinese: the workbooks are complete without it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

MISSING = ("未找到 LibreOffice（soffice），未生成 PDF；安装 LibreOffice 后重新运行 --pdf，"
           "或在 Excel/WPS 中打开结算单另存为 PDF。LibreOffice not found: no PDF written.")


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert_to_pdf(workbooks: list[Path], timeout: float = 600) -> tuple[list[Path], str | None]:
    """PDF beside each workbook; returns (the PDFs written, a message when something failed)."""
    exe = soffice()
    if exe is None:
        return [], MISSING
    done, failed = [], []
    by_folder: dict[Path, list[Path]] = {}
    for book in workbooks:
        by_folder.setdefault(Path(book).parent, []).append(Path(book))
    with tempfile.TemporaryDirectory(prefix="settlement-lo-") as profile:
        for folder, books in by_folder.items():
            cmd = [exe, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to",
                   "pdf", "--outdir", str(folder), *[str(b) for b in books]]
            try:
                subprocess.run(cmd, check=False, capture_output=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                failed += books
                continue
            for book in books:
                pdf = book.with_suffix(".pdf")
                (done if pdf.exists() else failed).append(pdf if pdf.exists() else book)
    message = (f"{len(failed)} 个结算单未能转换为 PDF（LibreOffice 转换失败）：{failed[0].name} 等"
               if failed else None)
    return done, message
