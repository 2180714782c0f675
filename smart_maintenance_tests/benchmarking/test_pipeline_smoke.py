"""The performance harness at toy sizes (`--smoke`), so `make bench` never rots; the daemon part is e2e."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from smart_maintenance.benchmarking import pipeline
from smart_maintenance.detection.retraining import week_of


def test_smoke_run_writes_the_pipeline_section_with_numbers(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\n<!-- BEGIN detection -->\nkept as it was\n<!-- END detection -->\n")

    assert pipeline.main(["--smoke", "--out", str(out), "--workdir", str(tmp_path)]) == 0

    results = json.loads((tmp_path / "benchmarks" / "pipeline.json").read_text())
    (run,) = results["throughput"]["runs"]
    assert run["exit_code"] == 0
    assert run["readings"] > 4_000 and run["rows_read"] == run["readings"]  # every generated reading accounted for
    assert run["readings_per_s"] > 0 and run["peak_rss_mb"] > 50
    assert run["floor"]["rows"] == run["readings"] and run["floor"]["seconds"] > 0
    assert run["floor_ratio"] == pytest.approx(run["wall_s"] / run["floor"]["seconds"], rel=0.01)
    assert {s["stage"].split(" (")[0] for s in run["stages"]} >= {"ingest landing files", "anomaly scores", "alerts"}
    assert all(s["ok"] for s in run["stages"])
    increment = run["incremental"]
    assert increment["rows_read"] == increment["readings"] > 0 and 0 < increment["share_of_full"]
    # The increment lands in a week whose model exists: the ingest run scores it and rebuilds the alerts.
    assert increment["stages"][0]["stage"] == "ingest landing files + scores, alerts" and increment["to_alerts_s"] > 0
    # The same increment through the long-lived worker: both batches timed by it, every reading accounted for.
    (watched,) = results["worker"]["runs"]
    assert watched["exit_code"] == 0 and watched["rows_read"] == watched["readings"] > 0
    assert 0 < watched["incremental"]["wall_s"] < watched["full"]["wall_s"] and not watched["incremental"]["failed"]
    assert watched["incremental"]["stages"][0]["stage"] == "ingest landing files + scores, alerts"
    # Its report waited for the worker's cadence (15 s; the increment lands a few seconds after the full batch),
    # then was built alone, timed, and counted in the share with the report.
    assert not any("daily report" in s["stage"] for s in watched["incremental"]["stages"])
    refresh = watched["report_refresh"]
    assert [s["stage"] for s in refresh["stages"]] == ["daily report"] and not refresh["failed"]
    assert watched["with_report_share_of_full"] == round((watched["incremental"]["wall_s"] + refresh["wall_s"])
                                                         / watched["full"]["wall_s"], 3)
    assert results["profile"]["our_code"] and results["profile"]["self_time"]
    assert len(results["load_start"]) == 3

    text = out.read_text()
    assert "<!-- BEGIN detection -->\nkept as it was\n<!-- END detection -->" in text  # other sections untouched
    section = text[text.index("<!-- BEGIN pipeline -->"):text.index("<!-- END pipeline -->")]
    assert "SMOKE" in section and "Command: `python -m smart_maintenance.benchmarking.pipeline --smoke" in section
    assert f"{run['readings']:,} of {run['readings']:,}" in section
    assert re.search(r"\*\*[\d,]+ readings/s\*\*", section)
    assert re.search(r"floor \*\*\d+\.\d+ s\*\* -> \*\*x\d+(\.\d+)?\*\*", section)
    assert re.search(r"\*\*Through the long-lived worker\*\*.* = \*\*\d+\.\d%\*\* of the full batch's wall time", section)


def test_fit_reports_slope_and_linearity() -> None:
    points = [{"readings": r, "wall_s": 5 + 20 * r / 1e6} for r in (100_000, 1_000_000, 5_000_000)]
    result = pipeline.fit(points)
    assert result["slope_s_per_million"] == pytest.approx(20.0)
    assert result["intercept_s"] == pytest.approx(5.0)
    assert result["linear"] is True and result["marginal_growth"] == pytest.approx(1.0)
    points[-1]["wall_s"] = 5 + 40 * 5  # twice the marginal cost at the top: not linear
    assert pipeline.fit(points)["linear"] is False


def test_percentile_counts_a_timeout_as_slowest() -> None:
    assert pipeline.percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0
    assert pipeline.percentile([1.0] * 19 + [None], 95) == 1.0
    assert pipeline.percentile([1.0, None], 95) is None


@pytest.mark.e2e
def test_daemon_latency_two_drops(tmp_path: Path) -> None:
    sizes = pipeline.Sizes(daemon_drops=2)
    result = pipeline.daemon_latency(sizes, tmp_path, history_days=1.0)
    assert len(result["drops"]) == 2 and result["timeouts"] == 0
    modelled = {week_of(datetime.fromisoformat(result["history_end"]).date().isoformat())}
    for drop in result["drops"]:
        assert drop["readings"] > 900
        assert 0 < drop["sensor_readings_s"] <= drop["anomaly_scores_s"] <= drop["alerts_s"]
        if {week_of(d) for d in drop["days"]} <= modelled:  # not a drop into a new week: the ingest run did it all
            assert drop["alerts_job"] == "ingest_landing", drop["runs"]
    assert result["alerts_p50"] > 0
