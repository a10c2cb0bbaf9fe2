"""Regenerate the example pages in docs/examples/pages/ (issue 12): the sample county's
汇总, 医保对账, one community statement, and the statements of one hospital, one township
centre and one village clinic, printed through LibreOffice and rasterised with pdftoppm.

    .venv/bin/python docs/examples/make_examples.py            # needs soffice and pdftoppm

The run is computed in memory (no database); the PNGs are small (60 dpi), a few pages each.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "examples" / "pages"
DPI = "60"
# (file name in the run folder or a glob, example name, pages to keep)
PICKS = [("汇总.xlsx", "summary", (1, 2)), ("医保对账.xlsx", "bureau", (1,)),
         ("communities/GT01_*.xlsx", "community", (1, 2)), ("units/H0001_*.xlsx", "hospital", (1, 2)),
         ("units/T001_*.xlsx", "township", (1, 2)), ("units/01001_*.xlsx", "village", (1, 2))]


def build(run_dir: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from settlement.pipeline import load_and_validate, settle
    from settlement.report import ReportContext, write_workbooks

    config, resolved, loaded, problems = load_and_validate(ROOT / "configs" / "sample-county.yaml",
                                                           ROOT / "sample_data")
    result = settle(loaded.tables, resolved)
    ctx = ReportContext.of_run(config, resolved, "示例运行", loaded.tables,
                               problems + result.problems)
    write_workbooks(run_dir, result.tables, ctx)


def rasterise(book: Path, name: str, pages: tuple[int, ...], work: Path) -> list[Path]:
    subprocess.run(["soffice", f"-env:UserInstallation=file://{work / 'lo'}", "--headless",
                    "--convert-to", "pdf", "--outdir", str(work), str(book)],
                   check=True, capture_output=True)
    pdf = work / book.with_suffix(".pdf").name
    out = []
    for page in pages:
        target = OUT / f"{name}-{page}"
        subprocess.run(["pdftoppm", "-png", "-r", DPI, "-f", str(page), "-l", str(page),
                        "-singlefile", str(pdf), str(target)], check=True)
        out.append(target.with_suffix(".png"))
    return out


def main() -> int:
    if not (shutil.which("soffice") and shutil.which("pdftoppm")):
        print("需要 LibreOffice（soffice）和 poppler-utils（pdftoppm） / needs soffice and pdftoppm")
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build(work / "run")
        for pattern, name, pages in PICKS:
            book = next((work / "run").glob(pattern))
            for png in rasterise(book, name, pages, work):
                print(png.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
