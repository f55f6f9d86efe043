"""Issue 13 hole 5: an import larger than IMPORT_INLINE_MAX_ROWS runs as a job of the scheduler, not in the web
request. The upload stores the file and queues the job together; the scheduler's tick claims it (never twice, a dead
runner's job reclaimed after the lease) and runs the importer: all rows or none; the job page shows progress, then
the result or the errors (with a CSV error report), to the unit's operators only."""

import csv
import io
import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from instrument_share.audit.models import AuditEntry
from instrument_share.catalogue import import_runner
from instrument_share.catalogue.models import ImportJob, Instrument, InstrumentCategory
from instrument_share.core import clock
from instrument_share.db import db
from instrument_share.files.models import StoredFile
from instrument_share.mail.models import Notification
from instrument_share.scheduling.claims import owner_name

from .._pages import sign_in
from ..factories import csrf_from, login
from ..security.test_spreadsheet_exports import assert_inert
from .test_catalogue_import import count, csv_bytes, fresh_request_state, row, table, upload

__all__ = ["fresh_request_state"]  # the autouse fixture of the import tests applies here as well

FORMULA = '=HYPERLINK("http://evil.example","x")'


@pytest.fixture
def unit(factory):
    return factory.org("university", name="南京测试大学")


@pytest.fixture
def operator(factory, unit):
    return factory.user(unit, ("provider_operator",))


def four_hundred(**changes) -> bytes:
    return csv_bytes(table([row(i, **changes) for i in range(400)]))


def job_row(job_id: int) -> ImportJob:
    db.session.rollback()
    return db.session.scalars(select(ImportJob).where(ImportJob.id == job_id)
                              .execution_options(populate_existing=True)).one()


def tick(app) -> None:
    result = app.test_cli_runner().invoke(args=["scheduler", "tick", "catalogue_imports"])
    assert result.exit_code == 0, result.output
    db.session.remove()


def queued_by_upload(client, data: bytes, filename: str = "目录.csv") -> int:
    response = upload(client, data, filename)
    assert response.status_code == 302, response.get_data(as_text=True)
    job_id = int(response.location.rstrip("/").rsplit("/", 1)[1])
    assert response.location.endswith(f"/provider/instruments/import/jobs/{job_id}")
    return job_id


def other_client(app, factory, user):
    other = app.test_client()
    sign_in(other, factory, user)
    return other


def test_a_400_row_csv_is_checked_and_imported_in_the_background(app, factory, client, unit, operator):
    login(client, operator.username)
    data = four_hundred()
    job_id = queued_by_upload(client, data)
    job = job_row(job_id)
    stored = db.session.get(StoredFile, job.file_id)
    assert (job.status, job.dry_run, job.organization_id, job.created_by_id) == ("queued", True, unit.id, operator.id)
    assert stored.data == data and stored.purpose == "catalogue_import" and count(Instrument) == 0

    page = client.get(f"/provider/instruments/import/jobs/{job_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Refresh"] == "3" and "排队中" in html
    assert client.get(f"/provider/instruments/import/jobs/{job_id}?refresh=0").headers.get("Refresh") is None

    # Another unit's operator, and the unit's own manager (not an instrument operator), see nothing at all.
    stranger = other_client(app, factory, factory.user(factory.org("key_lab"), ("provider_operator",)))
    colleague = other_client(app, factory, factory.user(unit, (), manager=True))  # the unit's manager
    for outsider in (stranger, colleague):
        assert outsider.get(f"/provider/instruments/import/jobs/{job_id}").status_code == 404
        assert outsider.get(f"/provider/instruments/import/jobs/{job_id}/errors.csv").status_code == 404

    tick(app)  # the scheduler checks the file
    job = job_row(job_id)
    assert (job.status, job.rows_total, job.rows_done, job.problem_count) == ("done", 400, 400, 0)
    assert count(Instrument) == 0  # a check writes nothing
    html = client.get(f"/provider/instruments/import/jobs/{job_id}").get_data(as_text=True)
    assert "已检查 400 行，未发现问题" in html and "导入 400 台（套）仪器" in html

    # Confirmed: the import itself is queued and run by the next tick, as one transaction.
    confirmed = client.post("/provider/instruments/import/confirm",
                            data={"csrf_token": csrf_from(html), "file_id": job.file_id, "publish": "y"})
    assert confirmed.status_code == 302 and count(Instrument) == 0
    import_id = int(confirmed.location.rsplit("/", 1)[1])
    assert import_id != job_id and job_row(import_id).dry_run is False and job_row(import_id).publish is True
    tick(app)
    done = job_row(import_id)
    assert (done.status, done.rows_done, done.instruments_created) == ("done", 400, 400)
    assert count(Instrument, Instrument.owner_id == unit.id, Instrument.status == "published") == 400
    first, last = db.session.execute(select(Instrument.id).order_by(Instrument.id)).scalars().all()[::399]
    assert (done.first_instrument_id, done.last_instrument_id) == (first, last)
    [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "catalogue.imported")).all()
    assert entry.actor_id == operator.id and json.loads(entry.details)["rows"] == 400

    # The result is on the page for every operator of the unit; the uploader is told in the platform and by mail.
    second_operator = other_client(app, factory, factory.user(unit, ("provider_operator",)))
    result_page = second_operator.get(f"/provider/instruments/import/jobs/{import_id}")
    assert result_page.status_code == 200 and "Refresh" not in result_page.headers
    assert f"已导入 400 台（套）仪器（编号 {first} 至 {last}）" in result_page.get_data(as_text=True)
    notes = db.session.scalars(select(Notification.message).where(Notification.user_id == operator.id)
                               .order_by(Notification.id)).all()
    assert len(notes) == 2 and f"第 {import_id} 号导入任务" in notes[1] and "导入 400 台" in notes[1]
    mails = factory.outbox(operator.email)
    assert len(mails) == 2 and f"/provider/instruments/import/jobs/{import_id}" in mails[1].body
    assert stranger.get(f"/provider/instruments/import/jobs/{import_id}").status_code == 404
    listing = client.get("/provider/instruments/import").get_data(as_text=True)
    assert f'href="/provider/instruments/import/jobs/{import_id}"' in listing


def test_a_failing_background_check_and_import_write_nothing_and_offer_their_errors(app, client, unit, operator):
    login(client, operator.username)
    cells = table([row(i) for i in range(400)])
    cells[0].append(FORMULA)  # an unknown column whose header a spreadsheet would run
    cells[51][8] = "9999"  # row 52: unknown category
    job_id = queued_by_upload(client, csv_bytes(cells))
    tick(app)
    job = job_row(job_id)
    assert (job.status, job.error_code, job.problem_count, job.rows_total) == ("failed", "import_rejected", 2, 400)
    html = client.get(f"/provider/instruments/import/jobs/{job_id}").get_data(as_text=True)
    assert "<td>52</td><td>仪器分类代码</td><td>未知的仪器分类代码</td>" in html and "未导入任何数据" in html
    report = client.get(f"/provider/instruments/import/jobs/{job_id}/errors.csv")
    assert report.status_code == 200 and report.mimetype == "text/csv"
    assert assert_inert(report, "import error report") == 1  # the formula header is written as text
    lines = list(csv.reader(io.StringIO(report.get_data().decode("utf-8-sig"))))
    assert lines[0] == ["行", "列", "问题"] and ["52", "仪器分类代码", "未知的仪器分类代码"] in lines
    assert ["1", "'" + FORMULA, "未知列"] in lines and len(lines) == 3

    # A clean check, then the category is withdrawn before the import runs: the import fails, writing nothing.
    job_id = queued_by_upload(client, four_hundred())
    tick(app)
    checked = job_row(job_id)
    with db.transaction():
        db.session.get(InstrumentCategory, "0105").is_active = False
    page = client.get(f"/provider/instruments/import/jobs/{job_id}").get_data(as_text=True)
    confirmed = client.post("/provider/instruments/import/confirm",
                            data={"csrf_token": csrf_from(page), "file_id": checked.file_id})
    import_id = int(confirmed.location.rsplit("/", 1)[1])
    tick(app)
    failed = job_row(import_id)
    assert (failed.status, failed.problem_count, failed.instruments_created) == ("failed", 400, None)
    assert count(Instrument) == 0
    assert not db.session.scalars(select(AuditEntry).where(AuditEntry.action == "catalogue.imported")).all()
    assert client.get(f"/provider/instruments/import/jobs/{import_id}/errors.csv").status_code == 200
    assert client.get(f"/provider/instruments/import/jobs/{job_id}/errors.csv").status_code == 404  # it passed
    notes = db.session.scalars(select(Notification.message).where(Notification.user_id == operator.id)).all()
    assert any("存在 400 个问题" in note for note in notes)


def test_progress_is_written_beside_the_run_and_shown_on_the_page(app, client, operator):
    login(client, operator.username)
    job_id = queued_by_upload(client, four_hundred())
    claimed_id, token = import_runner.claim()
    assert claimed_id == job_id
    progress = import_runner._Progress(job_id, token, steps_per_row=2)
    html = client.get(f"/provider/instruments/import/jobs/{job_id}").get_data(as_text=True)
    assert "进行中" in html and "正在读取文件" in html
    progress.begin(400)
    progress.advance(500)  # 400 rows checked, 100 of them written
    html = client.get(f"/provider/instruments/import/jobs/{job_id}").get_data(as_text=True)
    assert "250 / 400 行" in html and '<progress id="import-progress" max="400" value="250">' in html
    assert job_row(job_id).lease_expires_at > clock.now_utc()


def test_a_job_whose_runner_died_is_reclaimed_once_its_lease_has_run_out(app, client, operator):
    login(client, operator.username)
    job_id = queued_by_upload(client, four_hundred())
    assert import_runner.claim(owner="server-a:1")[0] == job_id  # ... and server-a dies before it finishes
    dead = job_row(job_id)
    assert (dead.status, dead.claimed_by, dead.attempts) == ("running", "server-a:1", 1)
    assert import_runner.claim(owner="server-b:2") is None  # nobody else takes it while the lease runs
    tick(app)
    assert job_row(job_id).status == "running" and count(Instrument) == 0

    clock.freeze(dead.lease_expires_at + timedelta(seconds=1))
    tick(app)
    reclaimed = job_row(job_id)
    assert (reclaimed.status, reclaimed.attempts, reclaimed.claimed_by) == ("done", 2, owner_name())
    assert reclaimed.rows_done == 400

    # A job whose runner dies every time is given up after MAX_ATTEMPTS runs, and the uploader is told.
    job_id = queued_by_upload(client, four_hundred(model="X"))
    for attempt in range(import_runner.MAX_ATTEMPTS):
        assert import_runner.claim(owner=f"server-{attempt}:1")[0] == job_id
        clock.freeze(job_row(job_id).lease_expires_at + timedelta(seconds=1))
    assert import_runner.claim() is None
    given_up = job_row(job_id)
    assert (given_up.status, given_up.error_code, given_up.attempts) == ("failed", "import_stopped", 4)
    assert "意外中断 3 次" in client.get(f"/provider/instruments/import/jobs/{job_id}").get_data(as_text=True)


def test_a_runner_whose_lease_was_taken_over_never_commits_its_import(app, client, unit, operator):
    """Runner A stalls past its lease, runner B takes the job over; A's import, when it ends, rolls back."""
    login(client, operator.username)
    checked = queued_by_upload(client, four_hundred())
    tick(app)
    page = client.get(f"/provider/instruments/import/jobs/{checked}").get_data(as_text=True)
    confirmed = client.post("/provider/instruments/import/confirm",
                            data={"csrf_token": csrf_from(page), "file_id": job_row(checked).file_id})
    job_id = int(confirmed.location.rsplit("/", 1)[1])
    a_id, a_token = import_runner.claim(owner="server-a:1")
    clock.freeze(job_row(job_id).lease_expires_at + timedelta(seconds=1))
    b_id, b_token = import_runner.claim(owner="server-b:2")
    assert a_id == b_id == job_id and a_token != b_token
    import_runner.run(job_id, a_token)  # A wrote every row in its transaction, then found the job no longer its own
    assert count(Instrument) == 0 and job_row(job_id).status == "running"
    import_runner.run(job_id, b_token)
    assert count(Instrument, Instrument.owner_id == unit.id) == 400 and job_row(job_id).status == "done"
    assert len(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "catalogue.imported")).all()) == 1


def test_schedulers_claiming_at_the_same_moment_take_each_job_once(app, client, operator):
    login(client, operator.username)
    jobs = {queued_by_upload(client, four_hundred(model=f"M{i}")) for i in range(3)}
    start, claimed, errors = threading.Barrier(4), [], []

    def scheduler(name: str) -> None:
        with app.app_context():
            try:
                start.wait(30)
                while (taken := import_runner.claim(owner=name)) is not None:
                    claimed.append(taken[0])
            except Exception as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=scheduler, args=(f"server-{i}:1",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and sorted(claimed) == sorted(jobs)


def test_small_files_stay_inline_and_the_command_imports_large_ones_at_once(app, client, factory, unit, operator,
                                                                            tmp_path):
    login(client, operator.username)
    small = upload(client, csv_bytes(table([row(i) for i in range(300)])), "目录.csv")
    assert small.status_code == 200 and count(ImportJob) == 0
    path = tmp_path / "large.csv"
    path.write_bytes(four_hundred(model="CLI"))
    out = app.test_cli_runner().invoke(args=["catalogue", "import", str(path), "--unit", unit.uscc])
    assert out.exit_code == 0, out.output
    assert count(Instrument, Instrument.owner_id == unit.id) == 400 and count(ImportJob) == 0
