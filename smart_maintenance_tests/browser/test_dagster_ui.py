"""The Dagster UI in a real browser, served by `dagster dev` on a free port for a temp data root: the
asset graph and catalog show our assets, and an asset's page shows its checks."""

from __future__ import annotations

import pytest

from smart_maintenance.definitions import build_defs
from smart_maintenance_tests.browser.chromium import chromium, screenshot
from smart_maintenance_tests.e2e.servers import dagster_dev, free_port

pytestmark = pytest.mark.e2e
TIMEOUT_MS = 60_000
LOCATION = "smart_maintenance.definitions"  # `dagster dev -m smart_maintenance.definitions`


def test_asset_graph_catalog_and_checks_are_visible(tmp_path):
    data_root = tmp_path / "data"
    (data_root / "reference").mkdir(parents=True)
    graph = build_defs(str(data_root)).resolve_asset_graph()
    assets = sorted(k.to_user_string() for k in graph.get_all_asset_keys())
    groups = sorted({graph.get(k).group_name for k in graph.get_all_asset_keys()})
    assert {"sensor_readings", "anomaly_scores", "alerts"} <= set(assets) and {"ingestion", "detection"} <= set(groups)

    with dagster_dev(data_root, tmp_path / "dagster_home", free_port()) as server, chromium() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 2400})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        base = f"http://127.0.0.1:{server.port}"

        # The global lineage shows one node per group; a group's lineage shows its assets.
        page.goto(f"{base}/asset-groups", timeout=TIMEOUT_MS)
        for group in groups:
            page.get_by_text(group, exact=True).first.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_timeout(1500)  # let the graph lay out before the screenshot
        screenshot(page, "dagster-asset-graph.png")
        page.goto(f"{base}/locations/{LOCATION}/asset-groups/detection/lineage", timeout=TIMEOUT_MS)
        for asset in ("detection_models", "anomaly_scores", "alerts"):
            page.get_by_text(asset, exact=True).first.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_timeout(1500)
        screenshot(page, "dagster-detection-lineage.png")

        page.goto(f"{base}/assets", timeout=TIMEOUT_MS)
        page.get_by_text("sensor_readings").first.wait_for(timeout=TIMEOUT_MS)
        missing = [a for a in assets if page.get_by_text(a, exact=True).count() == 0]
        screenshot(page, "dagster-asset-catalog.png")
        assert not missing, f"assets not shown in the catalog: {missing}"

        page.goto(f"{base}/assets/anomaly_scores?view=checks", timeout=TIMEOUT_MS)
        for check in ("scored_exactly_once", "scores_in_range"):
            page.get_by_text(check).first.wait_for(timeout=TIMEOUT_MS)
        screenshot(page, "dagster-anomaly-scores-checks.png")
    assert not errors, errors
