"""The web console: sign-in, CSRF, rate limit, roles, a unit user fenced into its own unit,
upload → validate → run → statement → download → compare → close, and the audit log.

One module-wide console on SQLite works on the sample county (uploaded as a zip, run base +
the 15 % village-floor scenario in one job); the users/audit tables are also exercised on
PostgreSQL when SETTLEMENT_TEST_PG_URL is set.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import time
import uuid
import zipfile
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from settlement.store import RunStore
from settlement.store.users import UserStore
from settlement.web import create_app
from settlement.web.security import LoginLimiter
from settlement.web.uploads import UploadError, add_file, new_upload

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct-horse-9"
UNIT_A, UNIT_B = "01001", "H0001"  # a village clinic and the lead hospital of the sample county


def workdir_with_configs(tmp: Path) -> Path:
    (tmp / "configs" / "examples").mkdir(parents=True)
    shutil.copy(ROOT / "configs/sample-county.yaml", tmp / "configs")
    shutil.copy(ROOT / "configs/examples/village-floor-15.yaml", tmp / "configs/examples")
    return tmp


def sample_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted((ROOT / "sample_data").iterdir()):
            z.write(f, f"sample_data/{f.name}")  # one top folder, as Windows' "send to zip" makes it
    return buffer.getvalue()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(client: TestClient, username: str, password: str = PASSWORD):
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "csrf": token},
                       follow_redirects=False)


def wait_for(app, location: str, timeout: float = 300):
    job = app.state.console.jobs.get(location.rsplit("/", 1)[-1])
    deadline = time.monotonic() + timeout
    while not job.done and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.done, job.lines[-20:]
    return job


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    tmp = workdir_with_configs(tmp_path_factory.mktemp("console"))
    app = create_app(f"sqlite:///{tmp / 'console.db'}", tmp, secret_key="test-secret",
                     limiter=LoginLimiter(attempts=3, window=60, ip_attempts=10))
    people = app.state.console.users
    people.add("admin", PASSWORD, "财务管理员")
    people.add("auditor", PASSWORD, "医保审核")
    people.add("unit_a", PASSWORD, "成员单位", unit_id=UNIT_A)
    admin = TestClient(app)  # (no ``with``: the app's lifespan end would stop its job pool)
    assert login(admin, "admin").status_code == 303
    page = admin.get("/upload")
    sent = admin.post("/upload", data={"csrf": csrf_of(page.text), "config": "configs/sample-county.yaml"},
                      files={"files": ("sample_data.zip", sample_zip(), "application/zip")},
                      follow_redirects=False)
    assert sent.status_code == 303, sent.text
    validated = wait_for(app, sent.headers["location"])
    assert validated.status == "succeeded", validated.error
    job_page = admin.get(sent.headers["location"])
    started = admin.post("/runs/start", follow_redirects=False, data={
        "csrf": csrf_of(job_page.text), "upload_id": validated.result["upload_id"],
        "config": "configs/sample-county.yaml", "scenarios": ["configs/examples/village-floor-15.yaml"]})
    assert started.status_code == 303
    ran = wait_for(app, started.headers["location"])
    assert ran.status == "succeeded", ran.lines[-30:]
    yield app, ran.run_ids, validated
    app.state.console.store.dispose()


def client_as(app, username: str) -> TestClient:
    client = TestClient(app)
    assert login(client, username).status_code == 303
    return client


# ------------------------------------------------------------------ sign-in, sessions, CSRF
def test_pages_need_a_signed_in_user(console):
    app, runs, _ = console
    anonymous = TestClient(app)
    for url in ["/", f"/runs/{runs[0]}", f"/runs/{runs[0]}/units/{UNIT_A}", "/upload", "/audit"]:
        response = anonymous.get(url, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


def test_wrong_password_then_rate_limit(console):
    app, _, _ = console
    client = TestClient(app)
    people = app.state.console.users
    people.add("victim", PASSWORD, "医保审核")
    for _ in range(3):
        assert login(client, "victim", "wrong-password").status_code == 401
    blocked = login(client, "victim", PASSWORD)  # the right password no longer helps
    assert blocked.status_code == 429 and "5 分钟" in blocked.text


def test_a_form_without_the_csrf_token_is_refused(console):
    app, runs, _ = console
    admin = client_as(app, "admin")
    response = admin.post(f"/runs/{runs[0]}/close", data={"csrf": "forged"})
    assert response.status_code == 403 and "CSRF" in response.text
    assert not app.state.console.store.get_run(runs[0]).closed
    anonymous = TestClient(app)
    assert anonymous.post("/login", data={"username": "admin", "password": PASSWORD}).status_code == 403


def test_open_redirect_after_login_is_ignored(console):
    app, _, _ = console
    client = TestClient(app)
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": token,
                                           "next": "//evil.example/"}, follow_redirects=False)
    assert response.headers["location"] == "/"


def test_passwords_are_argon2_hashes(console):
    app, _, _ = console
    with app.state.console.store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM users WHERE username = 'admin'")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


# ------------------------------------------------------------------ the finance office's flow
def test_run_page_shows_results_and_the_ledger_balances(console):
    app, runs, _ = console
    page = client_as(app, "admin").get(f"/runs/{runs[0]}")
    assert page.status_code == 200
    ledger = app.state.console.store.load_results(runs[0], "ledger")
    assert int(ledger.loc[ledger["line"] == "total", "amount"].sum()) == 0
    assert "医共体台账" in page.text and "考核指标" in page.text and "关账" in page.text


def test_statement_on_screen_equals_the_stored_lines(console):
    app, runs, _ = console
    page = client_as(app, "admin").get(f"/runs/{runs[0]}/units/{UNIT_A}")
    statement = app.state.console.store.load_results(runs[0], "unit_statement")
    net = int(statement.loc[(statement["unit_id"] == UNIT_A) & (statement["line"] == "net"), "amount"].iloc[0])
    from settlement.money import yuan_display
    assert page.status_code == 200 and yuan_display(net) in page.text


def test_downloads_are_workbooks_and_zips_and_are_audited(console):
    app, runs, _ = console
    admin = client_as(app, "admin")
    summary = admin.get(f"/runs/{runs[0]}/download/summary")
    assert summary.status_code == 200
    assert "总览" in openpyxl.load_workbook(io.BytesIO(summary.content)).sheetnames
    per_community = admin.get(f"/runs/{runs[0]}/download/community-GT01.zip")
    names = zipfile.ZipFile(io.BytesIO(per_community.content)).namelist()
    assert names and all(n.startswith("units/") for n in names)
    everything = zipfile.ZipFile(io.BytesIO(admin.get(f"/runs/{runs[0]}/download/all.zip").content)).namelist()
    assert "汇总.xlsx" in everything and len(everything) > len(names)
    actions = [(e.username, e.action) for e in app.state.console.users.audit()]
    for action in ("upload", "run", "download"):
        assert ("admin", action) in actions


def test_compare_page_and_workbook(console):
    app, runs, _ = console
    auditor = client_as(app, "auditor")
    page = auditor.get(f"/compare?a={runs[0]}&b={runs[1]}")
    assert page.status_code == 200 and "distribution.tiers" in page.text and "村卫生室" in page.text
    book = auditor.get(f"/compare/download?a={runs[0]}&b={runs[1]}")
    assert openpyxl.load_workbook(io.BytesIO(book.content)).sheetnames[0] == "摘要"


def test_the_scenario_run_wrote_its_comparison(console):
    app, runs, _ = console
    record = app.state.console.store.get_run(runs[1])
    assert (app.state.console.run_dir(record) / "对比.xlsx").is_file()


def test_validation_problems_show_file_row_and_column(console, tmp_path):
    app, _, _ = console
    admin = client_as(app, "admin")
    units = (ROOT / "sample_data/units.csv").read_text(encoding="utf-8-sig").splitlines()
    fields = units[2].split(",")
    fields[3] = "hospital_of_nowhere"  # category is an enum: row 3 of units.csv
    units[2] = ",".join(fields)
    files = [("files", (f.name, f.read_bytes(), "text/csv")) for f in sorted((ROOT / "sample_data").iterdir())
             if f.name != "units.csv"] + [("files", ("units.csv", "\n".join(units).encode(), "text/csv"))]
    sent = admin.post("/upload", data={"csrf": csrf_of(admin.get("/upload").text),
                                       "config": "configs/sample-county.yaml"}, files=files,
                      follow_redirects=False)
    job = wait_for(app, sent.headers["location"])
    assert job.status == "failed"
    bad = [p for p in job.result["problems"] if p["table"] == "units" and p["column"] == "category"]
    assert bad and bad[0]["row"] == 3 and bad[0]["file"].endswith("units.csv")
    page = admin.get(sent.headers["location"]).text
    assert "hospital_of_nowhere" in page and "问题清单" in page and "开始结算" not in page


# ------------------------------------------------------------------ roles
def test_auditor_reads_everything_but_cannot_close_upload_or_run(console):
    app, runs, validated = console
    auditor = client_as(app, "auditor")
    assert auditor.get(f"/runs/{runs[0]}/units/{UNIT_B}").status_code == 200
    assert auditor.get(f"/runs/{runs[0]}/download/all.zip").status_code == 200
    token = csrf_of(auditor.get("/").text)
    assert auditor.post(f"/runs/{runs[0]}/close", data={"csrf": token}).status_code == 403
    assert auditor.get("/upload").status_code == 403
    assert auditor.post("/runs/start", data={"csrf": token, "upload_id": validated.result["upload_id"],
                                             "config": "configs/sample-county.yaml"}).status_code == 403
    assert not app.state.console.store.get_run(runs[0]).closed


def test_a_unit_user_sees_only_its_own_unit(console):
    app, runs, _ = console
    unit = client_as(app, "unit_a")
    own = unit.get(f"/runs/{runs[0]}/units/{UNIT_A}")
    assert own.status_code == 200
    assert unit.get(f"/runs/{runs[0]}/units/{UNIT_A}/cases").status_code == 200
    download = unit.get(f"/runs/{runs[0]}/units/{UNIT_A}/download")
    assert download.status_code == 200 and openpyxl.load_workbook(io.BytesIO(download.content))
    for url in [f"/runs/{runs[0]}/units/{UNIT_B}", f"/runs/{runs[0]}/units/{UNIT_B}/cases",
                f"/runs/{runs[0]}/units/{UNIT_B}/download", f"/runs/{runs[1]}/units/{UNIT_B}",
                f"/runs/{runs[0]}/units/{UNIT_A.lower()}X", f"/runs/{runs[0]}/units",
                f"/runs/{runs[0]}/download/all.zip", f"/runs/{runs[0]}/download/summary",
                f"/runs/{runs[0]}/download/community-GT01.zip", f"/compare?a={runs[0]}&b={runs[1]}",
                "/upload", "/audit", "/jobs/0000"]:
        assert unit.get(url).status_code == 403, url
    assert unit.get(f"/runs/{runs[0]}", follow_redirects=False).headers["location"] == \
        f"/runs/{runs[0]}/units/{UNIT_A}"


def test_unit_case_list_holds_only_the_units_cases(console):
    app, runs, _ = console
    page = client_as(app, "unit_a").get(f"/runs/{runs[0]}/units/{UNIT_A}/cases").text
    cases = app.state.console.store.load_results(runs[0], "dip_cases")
    others = cases.loc[cases["unit_id"] != UNIT_A, "case_id"].astype(str).head(50)
    assert not any(f"<td>{c}</td>" in page for c in others)
    assert f"共 {int((cases['unit_id'] == UNIT_A).sum())} 例" in page


def test_admin_closes_the_period_through_the_run_store(console):
    app, runs, _ = console
    admin = client_as(app, "admin")
    token = csrf_of(admin.get(f"/runs/{runs[0]}").text)
    assert admin.post(f"/runs/{runs[0]}/close", data={"csrf": token}, follow_redirects=False).status_code == 303
    assert app.state.console.store.get_run(runs[0]).closed
    entry = next(e for e in app.state.console.users.audit() if e.action == "close")
    assert entry.username == "admin" and entry.target == runs[0]


# ------------------------------------------------------------------ uploads and user store
def test_zip_members_cannot_escape_the_upload_folder(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("../../evil.csv", "a,b\n")
        z.writestr("/abs/units.csv", "a,b\n")
        z.writestr("notes.txt", "ignored")
    buffer.seek(0)
    upload = new_upload(tmp_path)
    add_file(upload, "data.zip", buffer)
    assert sorted(upload.files) == ["evil.csv", "units.csv"]
    assert sorted(p.name for p in upload.folder.iterdir()) == ["evil.csv", "units.csv"]
    assert not (tmp_path / "evil.csv").exists()
    with pytest.raises(UploadError):
        add_file(upload, "run.exe", io.BytesIO(b"MZ"))


def pg_url():
    url = os.environ.get("SETTLEMENT_TEST_PG_URL")
    if not url:
        pytest.skip("PostgreSQL not configured: set SETTLEMENT_TEST_PG_URL")
    return url


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_user_store_and_audit_log(backend, tmp_path):
    if backend == "sqlite":
        url, cleanup = f"sqlite:///{tmp_path / 'u.db'}", None
    else:
        base = pg_url()
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(base)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = sa.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
        cleanup = (admin, schema)
    try:
        store = RunStore.open(url)
        store.upgrade()
        people = UserStore(store.engine)
        people.add("clinic", PASSWORD, "unit", unit_id="01001")
        assert people.authenticate("clinic", PASSWORD).unit_id == "01001"
        assert people.authenticate("clinic", "wrong-password") is None
        assert people.authenticate("nobody", PASSWORD) is None
        for bad in [("x", "short", "unit", "01001"), ("y", PASSWORD, "unit", None),
                    ("z", PASSWORD, "财务管理员", "01001"), ("clinic", PASSWORD, "医保审核", None)]:
            with pytest.raises(Exception):
                people.add(*bad)
        people.log("clinic", "download", "R1/units/01001", "结算单")
        entry = people.audit()[0]
        assert (entry.username, entry.action, entry.target) == ("clinic", "download", "R1/units/01001")
        assert entry.at.tzinfo is not None
        people.remove("clinic")
        assert people.list() == [] and people.audit()[0].username == "clinic"  # the log keeps it
        store.dispose()
    finally:
        if cleanup:
            admin, schema = cleanup
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def test_users_command_adds_lists_and_removes(tmp_path):
    from click.testing import CliRunner

    from settlement.cli import main

    db = f"sqlite:///{tmp_path / 'users.db'}"
    runner = CliRunner()
    added = runner.invoke(main, ["users", "add", "clinic", "--role", "成员单位", "--unit", "01001",
                                 "--password", PASSWORD, "--db", db])
    assert added.exit_code == 0 and "成员单位" in added.output, added.output
    refused = runner.invoke(main, ["users", "add", "boss", "--role", "成员单位", "--password", PASSWORD, "--db", db])
    assert refused.exit_code == 1 and "--unit" in refused.output
    listed = runner.invoke(main, ["users", "list", "--db", db])
    assert "clinic" in listed.output and "01001" in listed.output and "boss" not in listed.output
    assert runner.invoke(main, ["users", "remove", "clinic", "--db", db]).exit_code == 0
    assert "尚无用户" in runner.invoke(main, ["users", "list", "--db", db]).output
    assert runner.invoke(main, ["users", "remove", "clinic", "--db", db]).exit_code == 1


def test_indicators_show_money_in_yuan_ratios_in_percent_and_rates_as_numbers():
    import pandas as pd

    from settlement.web.views_results import _indicator_rows

    frame = pd.DataFrame({
        "scope": ["GT01", "GT01", "county"],
        "indicator": ["county_visit_rate", "fund_in_county_rate", "inpatient_rate"],
        "label_zh": ["县域内就诊率", "医保基金县域内支出率", "区域住院率（每千参保人）"],
        "numerator": [85.0, 123456.0, 30.0], "denominator": [100.0, 200000.0, 200.0],
        "value": [0.85, 0.61728, 150.0], "target": [0.85, 0.7, float("nan")], "met": [True, False, False]})
    rows = _indicator_rows(frame, {"GT01": "第一医共体"})
    assert [r["value"] for r in rows] == ["85.00%", "61.73%", "150.00"]
    assert rows[1]["numerator"] == "1,234.56" and rows[1]["denominator"] == "2,000.00"  # fen → yuan
    assert rows[0]["scope"] == "第一医共体" and rows[2]["scope"] == "全县" and rows[2]["target"] == ""
    cost = pd.DataFrame({"scope": ["county"], "indicator": ["inpatient_cost_per_case"],
                         "label_zh": ["住院次均费用（元）"], "numerator": [1_377_010.0], "denominator": [2.0],
                         "value": [688_505.0], "target": [float("nan")], "met": [None]})
    assert _indicator_rows(cost, {})[0]["value"] == "6,885.05"  # exact fen (average_fen) in yuan


def test_a_what_if_run_has_no_close_button_and_cannot_be_closed(console):
    app, runs, _ = console
    admin = client_as(app, "admin")
    page = admin.get(f"/runs/{runs[1]}").text  # the village-floor-15 scenario
    assert 'id="close-run"' not in page
    refused = admin.post(f"/runs/{runs[1]}/close", data={"csrf": csrf_of(page)})
    assert refused.status_code == 409 and not app.state.console.store.get_run(runs[1]).closed


# ------------------------------------------------------------------ month runs (issue 10)
MONTH = "2025-03"


@pytest.fixture(scope="module")
def month_run(console):
    """The finance office starts the March pre-settlement from the validated upload's job page."""
    app, _, validated = console
    app.state.console.users.add("unit_h", PASSWORD, "成员单位", unit_id=UNIT_B)
    admin = client_as(app, "admin")
    page = admin.get(f"/jobs/{validated.id}").text
    assert 'name="month"' in page and f'<option value="{MONTH}">' in page  # the month picker
    started = admin.post("/runs/start", follow_redirects=False, data={
        "csrf": csrf_of(page), "upload_id": validated.result["upload_id"],
        "config": "configs/sample-county.yaml", "month": MONTH})
    assert started.status_code == 303
    job = wait_for(app, started.headers["location"])
    assert job.status == "succeeded", job.lines[-30:]
    assert job.kind == "month" and len(job.run_ids) == 1
    return job.run_ids[0]


def test_a_month_run_is_started_from_the_console_and_recorded_as_a_month(console, month_run):
    app, _, _ = console
    record = app.state.console.store.get_run(month_run)
    assert (record.kind, record.month, record.status) == ("month", MONTH, "succeeded")
    rows = app.state.console.store.load_results(month_run, "dip_presettlement")
    page = client_as(app, "admin").get(f"/runs/{month_run}")
    assert page.status_code == 200 and f"月度预结算 {MONTH}" in page.text
    from settlement.money import yuan_display
    total = re.search(r'id="total-paid">([^<]+)<', page.text).group(1)
    assert total == yuan_display(int(rows["paid"].sum()))  # Σ of the hospitals' payments
    assert f"<td>{MONTH}</td>" in page.text and "<td>2025Q1</td>" in page.text  # month + quarter


def test_a_month_runs_bulletin_list_and_statements_download_for_readers(console, month_run):
    app, _, _ = console
    auditor = client_as(app, "auditor")
    bulletin = auditor.get(f"/runs/{month_run}/download/bulletin")
    assert bulletin.status_code == 200
    assert "预警" in openpyxl.load_workbook(io.BytesIO(bulletin.content)).sheetnames
    listing = auditor.get(f"/runs/{month_run}/download/presettlement")
    sheet = openpyxl.load_workbook(io.BytesIO(listing.content))["拨付清单"]
    paid = app.state.console.store.load_results(month_run, "dip_presettlement")["paid"].sum()
    totals = [row for row in sheet.iter_rows(values_only=True) if row[0] == "合计"]
    assert totals and int(round(float(totals[0][8]) * 100)) == int(paid)  # 本月拨付 column
    units = auditor.get(f"/runs/{month_run}/units")
    assert units.status_code == 200 and UNIT_B in units.text
    assert auditor.get(f"/runs/{month_run}/units/{UNIT_B}/download").status_code == 200
    year_runs = app.state.console.store.list_runs()
    assert any(r.kind == "year" and r.status == "succeeded" for r in year_runs)
    year = next(r.run_id for r in year_runs if r.kind == "year" and r.status == "succeeded")
    assert auditor.get(f"/runs/{year}/download/bulletin").status_code == 404  # a year run has none


def test_a_unit_user_sees_only_its_own_month_statement(console, month_run):
    app, _, _ = console
    unit = client_as(app, "unit_h")
    assert unit.get(f"/runs/{month_run}", follow_redirects=False).headers["location"] == \
        f"/runs/{month_run}/units/{UNIT_B}"
    own = unit.get(f"/runs/{month_run}/units/{UNIT_B}")
    row = app.state.console.store.load_results(month_run, "dip_presettlement").set_index("unit_id").loc[UNIT_B]
    from settlement.money import yuan_display
    assert own.status_code == 200 and f'id="month-paid">{yuan_display(int(row["paid"]))}<' in own.text
    assert unit.get(f"/runs/{month_run}/units/{UNIT_B}/download").status_code == 200
    other = next(u for u in app.state.console.store.load_results(month_run, "dip_presettlement")["unit_id"]
                 if u != UNIT_B)
    for url in [f"/runs/{month_run}/units/{other}", f"/runs/{month_run}/units/{other}/download",
                f"/runs/{month_run}/units", f"/runs/{month_run}/download/bulletin",
                f"/runs/{month_run}/download/presettlement", f"/runs/{month_run}/download/all.zip"]:
        assert unit.get(url).status_code == 403, url


def test_only_the_finance_office_starts_a_month_and_only_a_month_of_the_year(console, month_run):
    app, _, validated = console
    base = {"upload_id": validated.result["upload_id"], "config": "configs/sample-county.yaml"}
    auditor = client_as(app, "auditor")
    token = csrf_of(auditor.get("/").text)
    assert auditor.post("/runs/start", data={"csrf": token, **base, "month": MONTH}).status_code == 403
    admin = client_as(app, "admin")
    token = csrf_of(admin.get("/").text)
    for month in ("2024-12", "2025-13", "March"):
        assert admin.post("/runs/start", data={"csrf": token, **base, "month": month}).status_code == 400
    scenario = admin.post("/runs/start", data={"csrf": token, **base, "month": MONTH,
                                               "scenarios": ["configs/examples/village-floor-15.yaml"]})
    assert scenario.status_code == 400 and "情景方案" in scenario.text
