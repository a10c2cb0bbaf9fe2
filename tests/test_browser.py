"""The console in a real browser: Debian's headless Chromium driven by Playwright.

The path of a new user: ``settlement init`` makes the working folder (config, scenario, Excel
templates); the sample county's small tables are typed into those templates, the large ones
stay CSV; a real server (uvicorn in a thread, on a free port) serves the folder. Three people
sign in: the finance officer uploads the tables, validates, runs base + the 15 % village-floor
scenario, opens a statement, downloads it and compares the two runs; the auditor reads and
compares but has no close button; the unit accountant sees its own statement and gets 403 on
another unit's.

Playwright cannot download its browser builds here, so Debian's ``chromium`` is launched
through ``executable_path``. Screenshots of the main pages go to a temporary folder, or to the
folder named by ``SETTLEMENT_CONSOLE_SCREENSHOTS`` (``docs/examples/console/regenerate.py``).
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import openpyxl
import pytest

from test_init import fill
from test_web import PASSWORD, UNIT_A, UNIT_B

CHROMIUM = os.environ.get("SETTLEMENT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"Chromium not installed ({CHROMIUM})")


TYPED = ("communities", "fund_budget", "units", "dip_groups", "dip_reference_costs", "performance_scores",
         "overrun_adjustments")  # small enough to type into the Excel templates


def filled_sample(data: Path) -> list[Path]:
    """The sample county as a finance office would bring it: templates filled in, big tables as CSV."""
    from settlement.schema import contract

    files, schemas = [], contract()
    for csv_file in sorted((ROOT / "sample_data").glob("*.csv")):
        name = csv_file.stem
        if name in TYPED:
            with open(csv_file, encoding="utf-8-sig", newline="") as fh:
                fill(data / f"{name}.xlsx", schemas[name], list(csv.DictReader(fh)))
            files.append(data / f"{name}.xlsx")
        else:
            files.append(csv_file)
    return files


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from settlement.web import create_app

    from settlement.init_folder import init_folder

    tmp = tmp_path_factory.mktemp("browser") / "示例县"
    init_folder(tmp)
    uploads = filled_sample(tmp / "data")
    app = create_app(f"sqlite:///{tmp / 'console.db'}", tmp, secret_key="browser-test")
    people = app.state.console.users
    people.add("finance", PASSWORD, "finance_admin", display_name="医共体财务科")
    people.add("bureau", PASSWORD, "bureau_auditor", display_name="县医保局")
    people.add("clinic", PASSWORD, "unit", unit_id=UNIT_A, display_name="张庄村卫生室会计")
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield f"http://127.0.0.1:{port}", uploads, app
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    target = os.environ.get("SETTLEMENT_CONSOLE_SCREENSHOTS")
    folder = Path(target) if target else tmp_path_factory.mktemp("shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in(browser, base: str, username: str):
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_url(f"{base}/")
    return context, page


def wait_job(page, app, timeout_ms: int = 300_000) -> str:
    """The job's final state as the page shows it (htmx polls it); its log if it never ends.

    Alone a run of the sample county takes ~7 s; the generous limit is for a CI machine whose
    two cores are busy with the rest of the suite."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector("#job-status[data-status='succeeded'], #job-status[data-status='failed']",
                               timeout=timeout_ms)
    except PlaywrightTimeout:
        job = app.state.console.jobs.get(page.url.rsplit("/", 1)[-1])
        pytest.fail(f"job not finished: {job.status if job else '?'}\n" + "\n".join((job.lines if job else [])[-30:]))
    return page.get_attribute("#job-status", "data-status")


def test_finance_officer_auditor_and_unit_in_the_browser(server, browser, shots, tmp_path):
    base, uploads, app = server
    context, page = sign_in(browser, base, "finance")
    page.goto(f"{base}/upload")
    page.screenshot(path=str(shots / "01-upload.png"))
    page.set_input_files("#files", [str(f) for f in uploads])
    page.click("#upload")
    assert wait_job(page, app) == "succeeded"
    page.screenshot(path=str(shots / "02-validated.png"), full_page=True)
    assert "校验结果：0 个错误" in page.inner_text("#job")  # the filled templates read back
    page.check("input[name=scenarios][value='scenarios/village-floor-15.yaml']")
    page.click("#start-run")
    assert wait_job(page, app) == "succeeded"
    runs = page.locator("#job-runs a").all_inner_texts()
    assert len(runs) == 2

    page.goto(f"{base}/runs/{runs[0]}")
    assert page.locator("#communities tbody tr").count() == 2
    assert page.locator("#close-run").count() == 1
    page.screenshot(path=str(shots / "03-run.png"))
    page.goto(f"{base}/runs/{runs[0]}/units/{UNIT_A}")
    assert "结算单" in page.inner_text("#statement-title")
    page.screenshot(path=str(shots / "04-statement.png"), full_page=True)
    with page.expect_download() as info:
        page.click("#dl-statement")
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert openpyxl.load_workbook(saved).sheetnames

    page.goto(f"{base}/compare?a={runs[0]}&b={runs[1]}")
    assert "村卫生室" in page.inner_text("#compare-tiers")
    page.screenshot(path=str(shots / "05-compare.png"), full_page=True)
    with page.expect_download() as info:
        page.click("#dl-compare")
    assert info.value.suggested_filename.endswith(".xlsx")
    context.close()

    context, page = sign_in(browser, base, "bureau")
    page.goto(f"{base}/runs/{runs[0]}")
    assert page.locator("#communities tbody tr").count() == 2
    assert page.locator("#close-run").count() == 0  # the bureau reads, never closes
    page.goto(f"{base}/compare?a={runs[0]}&b={runs[1]}")
    assert page.locator("#compare-summary li").count() >= 2
    context.close()

    context, page = sign_in(browser, base, "clinic")
    page.screenshot(path=str(shots / "06-unit-home.png"))
    page.click(f"a[href='/runs/{runs[0]}/units/{UNIT_A}']")
    assert UNIT_A in page.inner_text("main")
    response = page.goto(f"{base}/runs/{runs[0]}/units/{UNIT_B}")
    assert response.status == 403 and "只能查看本单位" in page.inner_text("main")
    page.screenshot(path=str(shots / "07-unit-forbidden.png"))
    assert page.goto(f"{base}/runs/{runs[0]}/download/all.zip").status == 403
    context.close()

    actions = {(e.username, e.action) for e in app.state.console.users.audit()}
    assert {("finance", "upload"), ("finance", "run"), ("finance", "download"), ("clinic", "login")} <= actions
    login_page = browser.new_page()
    login_page.goto(f"{base}/login")
    login_page.screenshot(path=str(shots / "00-login.png"))
    login_page.close()
    if not os.environ.get("SETTLEMENT_CONSOLE_SCREENSHOTS"):
        shutil.rmtree(shots, ignore_errors=True)
