"""Benchmark: Twilio-signed WhatsApp webhooks into the real app, 20 concurrent; ack latency, duplicates, lost turns.

Roadie runs in its own process on a fresh seeded database, its twilio Client pointed at the fake Twilio REST API
from the tests. 1,000 requests come from 200 numbers and about 10% are redeliveries of a recent MessageSid; every
unique message must get exactly one answer.

Run: .venv/bin/python bench/webhook_whatsapp.py [--requests 1000 --users 200 --concurrency 20]
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twilio.request_validator import RequestValidator

from bench.harness import Platform, Request, main
from tests.fakes.twilio_api import FakeTwilio

ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token"
SENDER = "whatsapp:+14155238886"
PUBLIC = "https://roadie.example.com"
SIGNATURE_HEADER = "X-Twilio-Signature"


def inbound_message(n: int, sender: int, text: str) -> tuple[str, Request]:
    """Message SM<n> from number +4477009<sender>, signed like Twilio signs it (over the public URL)."""
    number, sid = f"+4477009{sender:05d}", f"SM{n:032x}"
    params = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": f"whatsapp:{number}",
        "To": SENDER,
        "Body": text,
        "NumMedia": "0",
        "ProfileName": f"Traveller {sender}",
        "WaId": number[1:],
        "ApiVersion": "2010-04-01",
    }
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        SIGNATURE_HEADER: RequestValidator(AUTH_TOKEN).compute_signature(f"{PUBLIC}/whatsapp/webhook", params),
    }
    return number, Request("/whatsapp/webhook", headers, urlencode(params).encode())


def whatsapp() -> Platform:
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)
    return Platform(
        name="whatsapp webhook",
        senders="numbers",
        fake=fake.app,
        settings=lambda url: {
            "public_base_url": PUBLIC,
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN,
            "twilio_whatsapp_from": SENDER,
            "twilio_api_base": url,
        },
        message=inbound_message,
        answers=lambda: [(m.to.removeprefix("whatsapp:"), m.body) for m in fake.messages],
        forged=lambda r: Request(r.path, {**r.headers, SIGNATURE_HEADER: "forged"}, r.body),
    )


if __name__ == "__main__":
    main(whatsapp())
