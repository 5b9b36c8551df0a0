"""``POST /api/events`` over a real socket: authentication, per-item answers, retried batches."""

from __future__ import annotations

import json

from sqlalchemy.engine import Engine

from nurture.engagement import join_anonymous_events
from nurture.http import sign_body
from tests.engagement.conftest import INGEST_KEY, NOW, Live, Mailroom
from tests.ports import free_port

BEARER = {"authorization": f"Bearer {INGEST_KEY.decode()}"}
BATCH = {
    "events": [
        {"type": "page_view", "email": "lena@alpenblick.de", "url": "https://taktwerk.example/pricing",
         "id": "pv-1"},
        {"type": "download", "email": "new@firma.de", "asset_type": "whitepaper", "id": "dl-1"},
        {"type": "email_clik", "email": "lena@alpenblick.de", "occurred_at": "2026-03-01T10:00:00Z",
         "id": "ec-1"},
        {"type": "webinar_attended", "occurred_at": "2026-13-01", "id": "wa-1"},
    ]
}  # fmt: skip
KEYED = {**BEARER, "idempotency-key": "request-1"}


def test_without_the_key_the_api_answers_401_and_records_nothing(live: Live, mailroom: Mailroom) -> None:
    for headers in ({}, {"authorization": "Bearer wrong"}, {"x-nurture-signature": "sha256=00"}):
        response = live.client.post("/api/events", json=BATCH, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert INGEST_KEY.decode() not in response.text
    assert mailroom.event_count() == 0


def test_items_are_answered_one_by_one(live: Live, mailroom: Mailroom) -> None:
    lead_id = mailroom.lead("lena@alpenblick.de")
    response = live.client.post("/api/events", json=BATCH, headers=BEARER)
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("received", "stored", "anonymous", "rejected")} == {
        "received": 4, "stored": 3, "anonymous": 1, "rejected": 1,
    }  # fmt: skip
    # The last item names nobody (its date is bad too: the first problem is reported).
    assert body["errors"] == [
        {"index": 3, "field": "email", "error": body["errors"][0]["error"]},
    ]
    assert "email is required" in f"email {body['errors'][0]['error']}"
    stored = [(e.type, e.lead_id) for e in mailroom.events()]
    # "email_clik" is a well-formed custom name: stored as such (custom types are the marketer's).
    assert stored == [("page_view", lead_id), ("download", None), ("email_clik", lead_id)]


def test_a_bare_list_signed_with_hmac_is_accepted(live: Live, mailroom: Mailroom) -> None:
    mailroom.lead("lena@alpenblick.de")
    body = json.dumps([{"type": "newsletter_subscribe", "email": "lena@alpenblick.de", "id": "n-1"}]).encode()
    headers = {"x-nurture-signature": sign_body(INGEST_KEY, body), "content-type": "application/json"}
    response = live.client.post("/api/events", content=body, headers=headers)
    assert response.status_code == 200 and response.json()["stored"] == 1
    tampered = body.replace(b"newsletter_subscribe", b"webinar_attended____")
    assert live.client.post("/api/events", content=tampered, headers=headers).status_code == 401
    assert mailroom.event_count() == 1


def test_a_retried_batch_counts_once_and_gets_the_first_answer(live: Live, mailroom: Mailroom) -> None:
    mailroom.lead("lena@alpenblick.de")
    batch = {"events": [{"type": "page_view", "email": "lena@alpenblick.de"}, {"type": "Bad"}]}
    headers = {**BEARER, "idempotency-key": "batch-2026-03-02-0001"}
    first = live.client.post("/api/events", json=batch, headers=headers)
    retry = live.client.post("/api/events", json=batch, headers=headers)
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert mailroom.event_count() == 1
    other = live.client.post("/api/events", json={"events": []}, headers=headers)
    assert other.status_code == 422 and "different batch" in other.json()["error"]


def test_an_unknown_lead_is_kept_and_joined_later(live: Live, mailroom: Mailroom, store: Engine) -> None:
    live.client.post(
        "/api/events", json={"events": [{"type": "download", "email": "New@Firma.de"}]}, headers=KEYED
    )
    (kept,) = mailroom.events()
    assert kept.lead_id is None and kept.anonymous_email == "new@firma.de"
    lead_id = mailroom.lead("new@firma.de")
    with store.begin() as conn:
        assert join_anonymous_events(conn, None, [lead_id], NOW) == 1
    assert mailroom.events()[0].lead_id == lead_id


def test_bad_bodies_are_refused_with_a_reason(live: Live) -> None:
    post = live.client.post
    not_json = post("/api/events", content=b"{nope", headers=BEARER)
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
    wrong_shape = post("/api/events", json={"event": {}}, headers=BEARER)
    assert wrong_shape.status_code == 400
    too_many = post("/api/events", json=[{"type": "page_view"}] * 10_001, headers=BEARER)
    assert too_many.status_code == 413
    too_large = post("/api/events", content=b" " * (5 * 1024 * 1024 + 1), headers=BEARER)
    assert too_large.status_code == 413
    bad_key = post("/api/events", json=[], headers={**BEARER, "idempotency-key": "k" * 201})
    assert bad_key.status_code == 400
    surrogate = b'[{"type": "page_view", "email": "a@b.de"}, {"type": "page_view", "url": "x\\ud800"}]'
    lone = post("/api/events", content=surrogate, headers=BEARER)
    assert lone.status_code == 400 and lone.json()["error"].startswith("events[1]: text with an unpaired")
    paired = b'[{"type": "page_view", "email": "a@b.de", "properties": {"x": "\\ud83d\\ude00"}}]'
    assert post("/api/events", content=paired, headers=KEYED).status_code == 200


def test_counters_show_events_by_type_and_origin(live: Live, mailroom: Mailroom) -> None:
    mailroom.lead("lena@alpenblick.de")
    items = [
        {"type": "page_view", "email": "lena@alpenblick.de"},
        {"type": "demo.requested", "email": "lena@alpenblick.de"},
    ]
    live.client.post("/api/events", json=items, headers=KEYED)
    metrics = live.metrics()
    assert 'nurture_events_recorded_total{origin="human",type="page_view"} 1.0' in metrics
    assert 'nurture_events_recorded_total{origin="human",type="custom"} 1.0' in metrics
    assert 'nurture_http_requests_total{method="POST",route="/api/events",status="200"} 1.0' in metrics
    assert "nurture_http_request_duration_seconds_bucket" in metrics


def test_healthz_reports_the_database_and_given_checks(live: Live) -> None:
    response = live.client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"]["ok"] is True
    live.context.checks = {"scheduler": lambda: "no tick for 10 minutes"}
    failing = live.client.get("/healthz")
    assert failing.status_code == 503
    scheduler = failing.json()["checks"]["scheduler"]
    assert (scheduler["ok"], scheduler["error"]) == (False, "no tick for 10 minutes")


def test_deeply_nested_json_is_refused_with_400_not_a_crash(live: Live, mailroom: Mailroom) -> None:
    post = live.client.post
    tower = b"[" * 200_000 + b"]" * 200_000
    whole = post("/api/events", content=tower, headers=BEARER)
    assert whole.status_code == 400
    assert whole.json()["error"] == "the body is JSON nested deeper than 32 levels of objects and lists"
    deep = {"type": "page_view", "email": "a@b.de", "p": json.loads("[" * 40 + "]" * 40)}
    one = post("/api/events", json=[{"type": "page_view", "email": "a@b.de"}, deep], headers=BEARER)
    assert one.status_code == 400 and one.json()["error"].startswith("events[1]: JSON nested deeper than 32")
    assert mailroom.event_count() == 0
    fine = {"type": "page_view", "email": "a@b.de", "p": json.loads("[" * 30 + "]" * 30)}
    assert post("/api/events", json=[fine] * 40, headers=KEYED).status_code == 200
    assert live.client.get("/healthz").status_code == 200


def test_metrics_are_not_public_without_their_token(live: Live, store: object) -> None:
    assert live.client.get("/metrics").status_code == 401
    wrong = live.client.get("/metrics", headers={"authorization": "Bearer guess"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
    assert "nurture_" in live.metrics()
    live.context.metrics_token = None  # the default: the admin listener only
    hidden = live.client.get("/metrics")
    assert hidden.status_code == 404 and "metrics_bind" in hidden.json()["error"]


def test_the_admin_listener_serves_metrics_and_the_public_one_does_not(live: Live) -> None:
    import threading
    import time

    import httpx

    from nurture.http import build_server, create_app

    ports = [free_port(), free_port()]
    live.context.metrics_token = None
    server = build_server(
        create_app(live.context), "127.0.0.1", ports[0], log_level="warning",
        admin_bind=f"127.0.0.1:{ports[1]}",
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.01)
    try:
        admin = httpx.get(f"http://127.0.0.1:{ports[1]}/metrics", timeout=5)
        assert admin.status_code == 200 and "nurture_" in admin.text
        assert httpx.get(f"http://127.0.0.1:{ports[0]}/metrics", timeout=5).status_code == 404
        assert httpx.get(f"http://127.0.0.1:{ports[0]}/healthz", timeout=5).status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)
