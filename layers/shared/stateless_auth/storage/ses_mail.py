"""Sending email through Amazon SES (API v2 SendEmail), from EMAIL_FROM."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from stateless_auth.domain.errors import MailSendFailed
from stateless_auth.domain.mail import Message


class SesMailSender:
    """Plain-text mail from one verified SES identity."""

    def __init__(self, client: Any, from_address: str) -> None:
        self._client = client
        self._from = from_address

    def send(self, to: str, message: Message) -> str:
        try:
            reply = self._client.send_email(
                FromEmailAddress=self._from,
                Destination={"ToAddresses": [to]},
                Content={
                    "Simple": {
                        "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                        "Body": {"Text": {"Data": message.text, "Charset": "UTF-8"}},
                    }
                },
            )
        except (BotoCoreError, ClientError) as exc:
            code = (
                exc.response.get("Error", {}).get("Code", "")
                if isinstance(exc, ClientError)
                else ""
            )
            raise MailSendFailed(f"SES: {type(exc).__name__} {code}".strip()) from None
        return str(reply.get("MessageId", ""))
