"""notification_outbox against a local SMTP server and a local webhook: delivery, dedupe, rate limit,
one broken endpoint, and secrets that never leave the environment."""

from __future__ import annotations

import json
import secrets

import dagster as dg
import pandas as pd

from smart_maintenance.defs.maintenance import MaintenanceResource, SmtpSink, WebhookSink
from smart_maintenance.defs.maintenance.notifications import SMTP_PASSWORD_ENV, WEBHOOK_TOKEN_ENV
from smart_maintenance.runner import instance_for
from smart_maintenance_tests.maintenance_assets.pipeline import FAST, materialization_metadata, materialize, refresh_all, table
from smart_maintenance_tests.maintenance_assets.servers import LOOPBACK, smtp_server, webhook_server

LIMIT = 2  # messages per recipient per hour
NOW = pd.Timestamp("2026-03-02", tz="UTC")  # the data's now: the plant's last reading


def test_outbox_delivers_once_within_the_rate_limit_records_failures_and_keeps_secrets_secret(root, monkeypatch):
    password, token = "pw-" + secrets.token_hex(12), "tok-" + secrets.token_hex(12)
    monkeypatch.setenv(SMTP_PASSWORD_ENV, password)
    monkeypatch.setenv(WEBHOOK_TOKEN_ENV, token)
    crew = root.reference / "technicians.csv"
    lines = crew.read_text().splitlines()  # T01 gets an e-mail address; the others fall back to default_to
    crew.write_text("\n".join([lines[0] + ",email"] + [ln + (",t01@plant.example" if ln.startswith("T01,") else ",")
                                                        for ln in lines[1:]]) + "\n")

    with smtp_server() as (smtp_port, mail), webhook_server(fail_recipient="operators") as (hook_port, hook):
        def sinks(**settings) -> dict:
            return {"notification_smtp": SmtpSink(host=LOOPBACK, port=smtp_port, username="planner", default_to="ops@plant.example"),
                    "notification_webhook": WebhookSink(url=f"http://{LOOPBACK}:{hook_port}/hook"),
                    "maintenance": MaintenanceResource(notifications_per_hour=LIMIT, **FAST, **settings)}

        runs = dict(refresh_all(root, **sinks()))
        assert all(r.success for r in runs.values())
        outbox = table(root, "notification_outbox")
        schedule, alerts = table(root, "technician_schedule"), table(root, "alerts")
        critical = alerts[(alerts["validation_status"] == "credible") & (alerts["severity"] == "critical")
                          & (alerts["is_open"] | (alerts["ended_at"] >= NOW - pd.Timedelta(days=1)))]
        due = {f"alert:{a}": "operators" for a in critical["alert_id"]}
        due |= {f"assignment:{r}:{t}:{s.isoformat()}": t
                for r, t, s in zip(schedule["request_id"], schedule["technician_id"], schedule["start"])}
        assert len(critical) > LIMIT and len(schedule) > 0
        assert dict(zip(outbox["message_key"], outbox["recipient"])) == due

        # per recipient: LIMIT attempted, the rest held as rate_limited, never dropped
        for recipient, group in outbox.groupby("recipient"):
            assert (group["status"] != "rate_limited").sum() == min(len(group), LIMIT)
            assert (group["status"] == "rate_limited").sum() == max(0, len(group) - LIMIT)
        attempted = outbox[outbox["status"] != "rate_limited"]
        # SMTP: every attempted message, with the login using the password from the environment
        assert sorted(m["Subject"] for m in mail.messages) == sorted(attempted["subject"])
        assert {m["To"] for m in mail.messages if "for T01:" in m.get_content()} <= {"t01@plant.example"}
        assert {m["To"] for m in mail.messages if m["Subject"].startswith("CRITICAL")} == {"ops@plant.example"}
        assert mail.logins and set(mail.logins) == {("planner", password)}
        # webhook: every attempted message with the bearer token; the operators' endpoint answers 500
        assert sorted(b["message_key"] for _, b in hook.messages) == sorted(attempted["message_key"])
        assert {h["Authorization"] for h, _ in hook.messages} == {f"Bearer {token}"}
        failed = attempted[attempted["recipient"] == "operators"]
        assert set(failed["status"]) == {"failed"} and failed["error"].str.contains("webhook: HTTPError: HTTP Error 500").all()
        assert set(failed["sinks"]) == {"file;smtp"}  # the other sinks took it: a retry goes to the webhook only
        assert set(attempted.loc[attempted["recipient"] != "operators", "status"]) == {"sent"}
        deliveries = table(root, "notification_deliveries")
        assert len(deliveries) == 3 * len(attempted) and (deliveries["status"] == "failed").sum() == len(failed)
        files = [json.loads(ln) for f in (root.root / "notifications").glob("*.jsonl") for ln in f.read_text().splitlines()]
        assert sorted(m["message_key"] for m in files) == sorted(attempted["message_key"])
        meta = materialization_metadata(runs["notification_outbox"], "notification_outbox")
        assert (meta["new_messages"], meta["delivery_failures"]) == (len(due), len(failed))

        # re-running sends nothing new: only the failed webhook deliveries are retried, the limit still holds
        n_mail, n_hook = len(mail.messages), len(hook.messages)
        assert materialize(root, "notification_outbox", **sinks()).success
        again = table(root, "notification_outbox")
        assert len(again) == len(outbox) and len(mail.messages) == n_mail
        assert sorted(b["message_key"] for _, b in hook.messages[n_hook:]) == sorted(failed["message_key"])
        assert (again["status"] == "rate_limited").sum() == (outbox["status"] == "rate_limited").sum()

        # hours later the window has room: the held messages go out first, then the failed ones are retried
        # until they have had 3 attempts, and never again
        for hours in (2, 4, 6):
            assert materialize(root, "notification_outbox", **sinks(now=(NOW + pd.Timedelta(hours=hours)).isoformat())).success
        final = table(root, "notification_outbox").set_index("message_key")
        held = outbox.loc[outbox["status"] == "rate_limited", "message_key"]
        assert (final["status"] == "rate_limited").sum() == 0 and len(mail.messages) == n_mail + len(held)
        assert set(final.loc[held, "sinks"]) == {"file;smtp"}  # to operators: the webhook still fails for them
        assert set(final.loc[failed["message_key"], "attempts"]) == {3} and set(final.loc[failed["message_key"], "status"]) == {"failed"}
        retries = [b["message_key"] for _, b in hook.messages[n_hook:] if b["message_key"] in set(failed["message_key"])]
        assert len(retries) == 2 * len(failed)  # attempts 2 and 3 of each

    # the secrets are nowhere: not in the outbox, the lake, the notification files or the Dagster instance
    for path in root.root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert password.encode() not in data and token.encode() not in data, path
    with instance_for(root) as instance:
        for record in instance.get_run_records():
            text = repr(record.dagster_run.run_config) + "".join(repr(e) for e in instance.all_logs(record.dagster_run.run_id))
            assert password not in text and token not in text
        assert instance.get_run_records(dg.RunsFilter(job_name="__ASSET_JOB"))
