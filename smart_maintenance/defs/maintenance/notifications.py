"""Notification sinks as resources: file (default, always on), SMTP and webhook (on when configured).

Secrets never live in configuration: a sink holds the *name* of an environment variable
(`password_env_var`, `token_env_var`) and reads its value through `dg.EnvVar(...).get_value()` only at
delivery time. So the secret is not in run config, the launchpad, the event log, the outbox or any
lake file, and an unset variable does not break runs that do not use the sink (a config field set to
`dg.EnvVar` would fail every run at start-up when the variable is missing). Error texts are scrubbed of
the secret before they are recorded.

A sink's `deliver(message)` raises on failure; `deliver_all` turns each outcome into a `Delivery`, so
one bad message or one unreachable server never stops the others.
"""

import hashlib
import json
import smtplib
import urllib.request
from email.message import EmailMessage
from pathlib import Path

import dagster as dg
from pydantic import Field

from smart_maintenance import storage
from smart_maintenance.maintenance.notifications import Delivery

SMTP_PASSWORD_ENV = "SMART_MAINTENANCE_SMTP_PASSWORD"
WEBHOOK_TOKEN_ENV = "SMART_MAINTENANCE_WEBHOOK_TOKEN"
PAYLOAD_FIELDS = ("message_key", "kind", "recipient", "address", "subject", "body", "ref_id", "created_at")


def payload(message: dict) -> dict:
    return {k: (str(message[k]) if k == "created_at" else message.get(k) or "") for k in PAYLOAD_FIELDS}


def _scrub(text: str, *secrets: str | None) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text[:500]


class FileSink(dg.ConfigurableResource):
    """Appends each message as one JSON line to `<folder>/<YYYY-MM-DD>.jsonl` (the message's date).
    Default folder: `<data root>/notifications/`."""

    enabled: bool = Field(default=True, description="Write messages to files.")
    folder: str = Field(default="", description="Folder of the JSON-lines files. Empty: <data root>/notifications/.")

    def deliver(self, message: dict, root: Path) -> None:
        folder = storage.location(self.folder) if self.folder else root / "notifications"
        day = str(message["created_at"])[:10]
        line = json.dumps(payload(message), ensure_ascii=False) + "\n"
        if storage.is_remote(folder):  # objects cannot be appended to: rewrite the day's object
            path = folder / f"{day}.jsonl"
            before = path.read_text(encoding="utf-8") if path.exists() else ""
            storage.write_bytes_atomic(path, (before + line).encode("utf-8"), fsync=False)
            return
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{day}.jsonl", "a", encoding="utf-8") as fh:
            fh.write(line)


class SmtpSink(dg.ConfigurableResource):
    """E-mail through an SMTP server; on when `host` is set. Technicians' addresses come from the optional
    `email` column of technicians.csv, everything else goes to `default_to` (e.g. the operators' list)."""

    host: str = Field(default="", description="SMTP server. Empty: e-mail is off.")
    port: int = Field(default=25)
    sender: str = Field(default="smart-maintenance@localhost", description="From address.")
    username: str = Field(default="", description="Login user; empty: no login.")
    password_env_var: str = Field(default=SMTP_PASSWORD_ENV,
                                  description="Name of the environment variable holding the password (never the password).")
    default_to: str = Field(default="", description="Address for operators' messages and technicians without an e-mail.")
    starttls: bool = Field(default=False, description="Upgrade the connection with STARTTLS before logging in.")
    timeout_seconds: float = Field(default=10.0)

    @property
    def active(self) -> bool:
        return bool(self.host)

    def deliver(self, message: dict, root: Path) -> None:
        to = message.get("address") or self.default_to
        if not to:
            raise ValueError(f"no e-mail address for recipient {message['recipient']!r} (technicians.csv email or default_to)")
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.sender, to, message["subject"]
        key = hashlib.sha256(message["message_key"].encode()).hexdigest()[:24]
        mail["Message-ID"] = f"<{key}.{message['kind']}@smart-maintenance>"  # stable: mail clients dedupe too
        mail.set_content(message["body"])
        password = dg.EnvVar(self.password_env_var).get_value() if self.username else None
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    if not password:
                        raise ValueError(f"SMTP login needs the password in the environment variable {self.password_env_var}")
                    smtp.login(self.username, password)
                smtp.send_message(mail)
        except Exception as e:  # noqa: BLE001 - recorded per message, the secret scrubbed out
            raise RuntimeError(_scrub(f"{type(e).__name__}: {e}", password)) from None


class WebhookSink(dg.ConfigurableResource):
    """POSTs each message as JSON to `url` with `Authorization: Bearer <token>`; on when `url` is set."""

    url: str = Field(default="", description="Webhook URL. Empty: the webhook is off.")
    token_env_var: str = Field(default=WEBHOOK_TOKEN_ENV,
                               description="Name of the environment variable holding the bearer token (never the token).")
    timeout_seconds: float = Field(default=10.0)

    @property
    def active(self) -> bool:
        return bool(self.url)

    def deliver(self, message: dict, root: Path) -> None:
        token = dg.EnvVar(self.token_env_var).get_value()
        headers = {"Content-Type": "application/json", "User-Agent": "smart-maintenance"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.url, data=json.dumps(payload(message)).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310 - configured URL
                if not 200 <= response.status < 300:
                    raise RuntimeError(f"HTTP {response.status}")
        except Exception as e:  # noqa: BLE001
            raise RuntimeError(_scrub(f"{type(e).__name__}: {e}", token)) from None


def deliver_all(messages: list[dict], sinks: dict[str, FileSink | SmtpSink | WebhookSink], root: Path) -> list[Delivery]:
    """Each message through each active sink that has not accepted it yet; failures recorded, never raised."""
    out = []
    for message in messages:
        done = set(filter(None, str(message.get("sinks") or "").split(";")))
        for name, sink in sinks.items():
            if name in done:
                continue  # a retry goes only to the sinks that failed
            try:
                sink.deliver(message, root)
                out.append(Delivery(message["message_key"], name, True))
            except Exception as e:  # noqa: BLE001 - one bad message or sink never stops the others
                out.append(Delivery(message["message_key"], name, False, str(e)[:500]))
    return out


def active_sinks(file: FileSink, smtp: SmtpSink, webhook: WebhookSink) -> dict:
    sinks = {"file": file} if file.enabled else {}
    if smtp.active:
        sinks["smtp"] = smtp
    if webhook.active:
        sinks["webhook"] = webhook
    return sinks
