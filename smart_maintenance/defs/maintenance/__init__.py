"""Maintenance: requests and approvals, the technician schedule, notifications, and the decide_request job.

Wiring for `definitions.py`: `assets=[..., *ASSETS]`, `asset_checks=[..., *CHECKS]`, `jobs=[..., *JOBS]`,
`resources={..., **RESOURCES}`; `runner.downstream_plan` plans `STEPS` after the forecasts.
"""

from smart_maintenance.defs.maintenance.assets import ASSETS, CHECKS, STEPS
from smart_maintenance.defs.maintenance.jobs import JOBS
from smart_maintenance.defs.maintenance.notifications import FileSink, SmtpSink, WebhookSink
from smart_maintenance.defs.maintenance.resources import MaintenanceResource

# Default resources: settings from the core's defaults, notifications to files under <data root>/notifications/;
# SMTP and webhook stay off until a host / url is configured (secrets only from environment variables).
RESOURCES = {
    "maintenance": MaintenanceResource(),
    "notification_file": FileSink(),
    "notification_smtp": SmtpSink(),
    "notification_webhook": WebhookSink(),
}

__all__ = ["ASSETS", "CHECKS", "JOBS", "RESOURCES", "FileSink", "MaintenanceResource", "STEPS", "SmtpSink", "WebhookSink"]
