"""SMTP that knows whether a failed send may still have delivered the message.

A mail server takes a message in three steps: the envelope (MAIL, RCPT), the DATA command
(answered 354, "send the message"), then the message itself, ended by a lone "." and answered
250 once the server has taken it. A failure before the 354 means the server never had the
message: safe to try again. A failure after it and before the final answer (a timeout because
the server is slow to answer, a dropped connection) leaves the outcome unknown: the server may
have queued the message and only its answer was lost. Sending again then risks a duplicate, so
the reminder delivery marks it "uncertain" for a person instead (scheduling/services/delivery.py).

`TrackingEmailBackend` is Django's SMTP backend whose connections record that moment; the
delivery uses it in place of Django's own (same settings), and `send_outcome` reads it.
"""

import smtplib

from django.core.mail.backends.smtp import EmailBackend


class _Tracking:
    """Mixed into smtplib.SMTP: `message_may_have_left` is True from the server's 354 to its final answer."""

    message_may_have_left = False
    message_taken = False  # the server answered 250 to the message: delivered, whatever fails after
    _awaiting_data_reply = False

    def data(self, msg):
        self._awaiting_data_reply = True
        try:
            code, reply = super().data(msg)
        finally:
            self._awaiting_data_reply = False
        # A final answer arrived: 250 (taken) or a refusal; either way the outcome is known.
        self.message_may_have_left = False
        self.message_taken = code == 250
        return code, reply

    def getreply(self):
        code, reply = super().getreply()
        if self._awaiting_data_reply and code == 354:
            self._awaiting_data_reply = False
            self.message_may_have_left = True
        return code, reply


class TrackingSMTP(_Tracking, smtplib.SMTP):
    pass


class TrackingSMTP_SSL(_Tracking, smtplib.SMTP_SSL):  # noqa: N801 (smtplib's name)
    pass


class TrackingEmailBackend(EmailBackend):
    """Django's SMTP backend; `last_connection` outlives `close()`, so a failed send can be examined."""

    last_connection = None

    @property
    def connection_class(self):
        return TrackingSMTP_SSL if self.use_ssl else TrackingSMTP

    def open(self):
        opened = super().open()
        if self.connection is not None:
            self.last_connection = self.connection
        return opened


def send_outcome(backend) -> str:
    """After a send raised: "taken" (the server answered 250 and a later step failed, e.g. QUIT),
    "unknown" (it failed between the server's 354 and its final answer) or "not_taken" (it failed
    before the message left, or the server refused it). Always "not_taken" for a backend that is
    not SMTP (console, file, memory): nothing of theirs can leave half-way."""
    connection = getattr(backend, "last_connection", None)
    if getattr(connection, "message_taken", False):
        return "taken"
    if getattr(connection, "message_may_have_left", False):
        return "unknown"
    return "not_taken"
