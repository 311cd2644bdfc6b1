"""The notification channel: a JSON POST to ``alert_webhook_url`` and, where SMTP is configured,
an e-mail to ``alert_emails``. Drift alerts and finished or failed trainings go through it.

A notification never fails what triggered it: a receiver that is down is logged and skipped
(the alert stays in its state, so the dashboard and /metrics still show it).
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx

from docloop import __version__
from docloop.config import Settings
from docloop.db.tables import utcnow

log = logging.getLogger("docloop.notify")
TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Notice:
    """One event: ``event`` is alert.firing, alert.resolved, training.succeeded or
    training.failed; ``subject`` and ``text`` are for people, ``details`` for programs."""

    event: str
    model_id: str
    model_name: str
    subject: str
    text: str
    details: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "model_id": self.model_id,
            "model_name": self.model_name,
            "subject": self.subject,
            "text": self.text,
            "details": self.details,
            "at": utcnow().isoformat(),
        }


def recipients(settings: Settings) -> list[str]:
    return [a.strip() for a in settings.alert_emails.split(",") if a.strip()]


def send(settings: Settings, notice: Notice) -> dict[str, str]:
    """Deliver ``notice`` on every configured channel; returns each channel's outcome."""
    outcome: dict[str, str] = {}
    if settings.alert_webhook_url:
        outcome["webhook"] = _post(settings.alert_webhook_url, notice)
    if settings.smtp_host and recipients(settings):
        outcome["email"] = _mail(settings, notice)
    return outcome


def _post(url: str, notice: Notice) -> str:
    try:
        resp = httpx.post(
            url, json=notice.payload(), timeout=TIMEOUT_S, follow_redirects=False,
            headers={"User-Agent": f"docloop/{__version__}"},
        )  # fmt: skip
    except httpx.HTTPError as exc:
        log.warning("notification webhook %s unreachable: %s", url, exc)
        return f"unreachable: {exc}"
    if resp.status_code >= 400:
        log.warning("notification webhook %s answered HTTP %s", url, resp.status_code)
        return f"HTTP {resp.status_code}"
    return "sent"


def _mail(settings: Settings, notice: Notice) -> str:
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(recipients(settings))
    msg["Subject"] = f"[docloop] {notice.subject}"
    msg.set_content(notice.text)
    host, port = settings.smtp_host or "", settings.smtp_port
    try:
        smtp_class = smtplib.SMTP_SSL if port == 465 else smtplib.SMTP
        with smtp_class(host, port, timeout=TIMEOUT_S) as smtp:
            if settings.smtp_starttls and port != 465:
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("notification e-mail through %s:%s failed: %s", host, port, exc)
        return f"failed: {exc}"
    return "sent"
