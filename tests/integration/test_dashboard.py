"""The dashboard in a real browser against a live cluster: what the client did shows up.

Headless Chromium (Debian's) is driven through playwright; screenshots of every page are saved
in the test's tmp dir (and, with RAIN_SCREENSHOT_DIR set, copied there: that is how the
pictures in docs/monitoring.md are made). Skipped, with the reason, only where the browser
cannot be had.
"""

from __future__ import annotations

import pytest

from rain.client import blob, tasks
from tests.dashboard_browser import browser_missing, open_page, screenshot

pytestmark = [pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or ""),
              pytest.mark.timeout(180)]


def run_workload(cluster):
    """Two sessions: one with three task types that finishes, one whose program fails."""
    client = cluster.client()
    good = client.new_session("nightly build")
    with good.bind_only():
        sources = [blob(f"part {i}\n".encode()) for i in range(8)]
        joined = [tasks.Concat([src, sources[0]], name=f"join-{i}") for i, src in enumerate(sources)]
        slept = [tasks.Sleep(j, 0.15, name=f"settle-{i}") for i, j in enumerate(joined)]
        final = tasks.Concat(slept, name="final")
        report = tasks.Execute("echo built 8 parts; echo 'warning: cache cold' >&2", shell=True,
                               stdout=True, name="report")
        final.output.keep()
        good.submit()
        good.wait_all()
    bad = client.new_session("broken experiment")
    with bad.bind_only():
        tasks.Execute("echo computing; echo 'error: bad parameter alpha' >&2; exit 3", shell=True, name="fit")
        bad.submit()
        with pytest.raises(Exception, match="exit code 3"):
            bad.wait_all()
    return good, bad, report


def test_dashboard_shows_governors_sessions_progress_and_stream(make_cluster, tmp_path):
    cluster = make_cluster([1, 2])
    good, bad, report = run_workload(cluster)
    url = f"http://127.0.0.1:{cluster.http_port}/?token={cluster.http_token()}"
    with open_page(str(tmp_path / "profile")) as page:
        page.goto(url)
        # governors: both, with their CPUs
        page.wait_for_function("document.querySelectorAll('#governors tr[data-governor]').length === 2")
        rows = page.query_selector_all("#governors tr[data-governor]")
        assert {r.get_attribute("data-governor") for r in rows} == set(cluster.governor_ids)
        cpus = sorted(page.eval_on_selector_all("#governors .cpus", "els => els.map(e => e.textContent)"))
        assert cpus == ["0 / 1", "0 / 2"]
        # sessions: progress numbers and the failure with its message
        good_row = page.wait_for_selector(f"#sessions tr[data-session='{good.session_id}']")
        assert "nightly build" in good_row.inner_text()
        assert good_row.query_selector(".progress-text").inner_text() == "18 / 18"
        bad_row = page.query_selector(f"#sessions tr[data-session='{bad.session_id}']")
        assert "failed" in bad_row.inner_text() and bad_row.query_selector(".failed-count").inner_text() == "1"
        failure = page.query_selector(f"#sessions tr[data-failure='{bad.session_id}']").inner_text()
        assert "exit code 3" in failure and "bad parameter alpha" in failure
        # task stream: every finished task drawn, legend by task type
        page.wait_for_function("Number(document.querySelector('#stream').dataset.tasks) === 19")
        legend = page.eval_on_selector_all("#legend li[data-type]", "els => els.map(e => e.dataset.type)")
        assert legend == ["buildin/concat", "buildin/run", "buildin/sleep"]
        # one evaluation reads the cells: a refresh replaces the rows, and a handle taken before it
        # would read a detached row (whose inner text has no cell separators)
        stats = page.eval_on_selector_all("#task-types tr[data-type='buildin/sleep'] td.num",
                                          "tds => tds.map(td => td.textContent)")
        assert stats[:3] == ["8", "8", "0"]  # submitted, finished, failed
        shots = [screenshot(page, str(tmp_path), "overview")]

        page.goto(f"{url}#/session/{good.session_id}")
        page.wait_for_function("document.querySelectorAll('#graph g.node').length === 18")
        assert "18 / 18 tasks finished" in page.inner_text("#session-summary")
        shots.append(screenshot(page, str(tmp_path), "session"))

        page.click(f"#graph g.node[data-task='{report.id.id}']")
        page.wait_for_function("document.querySelector('#task-stdout').textContent.includes('built 8 parts')")
        assert "warning: cache cold" in page.inner_text("#task-stderr")
        assert "buildin/run" in page.inner_text("#task-facts")
        shots.append(screenshot(page, str(tmp_path), "task"))

        page.goto(f"{url}#/session/{bad.session_id}")
        page.wait_for_selector("#session-error:not([hidden])")
        page.click("#session-error a")
        page.wait_for_function("document.querySelector('#task-error').textContent.includes('exit code 3')")
        assert "bad parameter alpha" in page.inner_text("#task-stderr")
        shots.append(screenshot(page, str(tmp_path), "failed-task"))
    for path in shots:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_big_session_graph_is_grouped_by_task_type(make_cluster, tmp_path):
    cluster = make_cluster([2])
    client = cluster.client()
    with client.new_session("wide") as session:
        src = blob(b"x")
        firsts = [tasks.Concat([src, src]) for _ in range(1500)]
        for i in range(0, 1500, 3):
            tasks.Sleep(tasks.Concat(firsts[i:i + 3]), 0.0)
        session.submit()
        session.wait_all()
        with open_page(str(tmp_path / "profile")) as page:
            page.goto(f"http://127.0.0.1:{cluster.http_port}/?token={cluster.http_token()}"
                      f"#/session/{session.session_id}")
            page.wait_for_selector("#graph svg")
            note = page.inner_text("#graph-note")
            assert note == "2,500 tasks and 2,501 objects, grouped by task type"
            text = page.inner_text("#graph")
            assert "buildin/concat" in text and "2,000 tasks, 2,000 finished" in text
            assert "buildin/sleep" in text and "500 tasks, 500 finished" in text
            screenshot(page, str(tmp_path), "grouped-graph")
