"""Colours shared by the plotly charts of the HTML report and the PNG charts of the asset metadata.
(Plain data, so that importing it loads no plotting library: run workers stay light.)"""

SEVERITY_COLORS = {"low": "#9ecae1", "medium": "#fdae6b", "high": "#e6550d", "critical": "#a50f15"}
STATUS_COLORS = {"credible": "#cb181d", "needs_investigation": "#fd8d3c", "suspected_false_positive": "#bdbdbd"}
FLEET_COLORS = {"at_risk": "#a50f15", "alerting": "#e6550d", "watch": "#fdae6b", "ok": "#31a354", "no_data": "#bdbdbd"}
