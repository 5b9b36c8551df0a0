"""``POST /forms/{key}`` over a real socket: good posts stored once, every bad one refused whole."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import update
from sqlalchemy.engine import Engine

from nurture.clock import FixedClock
from nurture.http import HttpContext, create_app
from nurture.settings import origin_of
from nurture.store.schema import leads
from tests.engagement.conftest import serving
from tests.forms.conftest import NOW, PAGE, SITE, Site, write_forms_workspace

GOOD = {
    "email": "Lena@Alpenblick.de",
    "first_name": "Lena",
    "country": "DE",
    "interest": "planung",
    "consent": "on",
}
DEMO = {
    "email": "jonas@bergwerk.example",
    "company": "Bergwerk GmbH",
    "job_title": "Head of Ops",
    "consent": "yes",
}


def errors_in(location: str) -> list[str]:
    query = parse_qs(urlsplit(location).query)
    return query["form_errors"][0].split(",")


def test_a_good_post_creates_the_lead_records_the_event_and_consent_and_redirects(site: Site) -> None:
    response = site.post("demo", DEMO, **{"x-forwarded-for": "203.0.113.9"})
    assert response.status_code == 303
    assert response.headers["location"] == "https://www.taktwerk.example/demo-danke"
    assert response.headers["access-control-allow-origin"] == SITE
    lead = site.lead("jonas@bergwerk.example")
    assert (lead.company, lead.job_title, lead.lifecycle_stage) == ("Bergwerk GmbH", "Head of Ops", "lead")
    (event,) = site.events()
    assert (event.type, event.lead_id, event.properties["form"]) == ("form_submit", lead.id, "demo")
    (consent,) = site.consent_rows()
    assert (consent.topic, consent.status, consent.source, consent.text_version) == (
        "marketing", "confirmed", "form", "d1",
    )  # fmt: skip
    # The reader's address as the trusted proxy in front (loopback, by default) gives it.
    assert consent.ip == "203.0.113.9"
    assert site.confirmations() == []  # single opt-in: no confirmation email


def test_a_double_click_records_once(site: Site) -> None:
    first = site.post("demo", DEMO)
    site.clock.advance(timedelta(seconds=3))
    second = site.post("demo", DEMO)
    assert first.status_code == second.status_code == 303
    assert second.headers["location"] == first.headers["location"]
    assert len(site.events()) == 1 and len(site.consent_rows()) == 1


def test_multipart_and_json_answers(site: Site) -> None:
    response = site.client.post(
        "/forms/demo",
        files={name: (None, value) for name, value in DEMO.items()},
        headers={"origin": SITE, "accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "ok": True, "redirect": "https://www.taktwerk.example/demo-danke", "double_opt_in": False,
    }  # fmt: skip
    assert site.lead("jonas@bergwerk.example").company == "Bergwerk GmbH"


def test_missing_and_bad_fields_go_back_to_the_page_without_their_values(site: Site) -> None:
    before = site.counts()
    bad = {"email": "lena@@alpenblick", "first_name": "<script>x</script>" * 10, "interest": "golf"}
    response = site.post("newsletter", bad)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{SITE}/newsletter?utm_source=x&form_errors=")
    assert errors_in(location) == [
        "email:invalid_email", "first_name:too_long", "interest:not_a_choice", "consent:consent_required",
    ]  # fmt: skip
    assert "script" not in location and "alpenblick" not in location
    as_json = site.post("demo", {"company": "X", "consent": "on"}, accept="application/json")
    assert as_json.status_code == 422
    assert as_json.json()["errors"] == [{"field": "email", "code": "required"}]
    assert site.counts() == before


def test_a_value_the_lead_rules_refuse_names_its_field(site: Site) -> None:
    response = site.post("newsletter", {**GOOD, "country": "Germany"}, accept="application/json")
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "country", "code": "invalid"}]


def test_a_filled_honeypot_is_refused_and_stores_nothing(site: Site) -> None:
    before = site.counts()
    response = site.post("demo", {**DEMO, "website": "http://spam.example"}, accept="application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "website", "code": "honeypot"}]
    assert errors_in(site.post("demo", {**DEMO, "website": "x"}).headers["location"]) == ["website:honeypot"]
    assert site.counts() == before


def test_a_foreign_origin_is_refused_and_gets_no_cors_grant(site: Site) -> None:
    before = site.counts()
    foreign = {"origin": "https://evil.example", "referer": "https://evil.example/x"}
    response = site.post("demo", DEMO, **foreign)
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    assert "location" not in response.headers  # never a redirect to the foreign page
    no_origin = site.client.post("/forms/demo", data=DEMO)
    assert no_origin.status_code == 403
    by_referer = site.client.post("/forms/demo", data=DEMO, headers={"referer": "https://evil.example/"})
    assert by_referer.status_code == 403
    preflight = site.client.options("/forms/demo", headers={"origin": "https://evil.example"})
    assert preflight.status_code == 403
    ok = site.client.options("/forms/demo", headers={"origin": SITE, "access-control-request-method": "POST"})
    assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == SITE
    assert site.counts() == before


def test_over_the_rate_limit_is_429_with_retry_after(site: Site) -> None:
    answers = [site.post("demo", {**DEMO, "company": f"Firma {n}"}).status_code for n in range(6)]
    assert answers == [303] * 5 + [429]
    other_address = site.post("demo", {**DEMO, "company": "Andere"}, **{"x-forwarded-for": "198.51.100.7"})
    assert other_address.status_code == 303
    before = site.counts()
    refused = site.post("demo", {**DEMO, "company": "Noch eine"}, accept="application/json")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert site.counts() == before


def test_oversized_and_unknown_bodies_are_refused(site: Site) -> None:
    before = site.counts()
    huge = site.post("demo", {**DEMO, "company": "x" * 40_000}, accept="application/json")
    assert huge.status_code == 413
    odd = site.client.post(
        "/forms/demo",
        content=b'{"email": "a@b.de"}',
        headers={"origin": SITE, "content-type": "application/json"},
    )
    assert odd.status_code == 415
    assert site.post("nope", DEMO, accept="application/json").status_code == 404
    assert site.counts() == before


def test_an_sql_who_fills_in_a_form_stays_an_sql(site: Site) -> None:
    site.post("demo", DEMO)
    with site.store.begin() as conn:
        conn.execute(update(leads).where(leads.c.email == DEMO["email"]).values(lifecycle_stage="sql"))
    site.post("newsletter", {**GOOD, "email": DEMO["email"]})
    assert site.lead(DEMO["email"]).lifecycle_stage == "sql"
    assert site.consent(DEMO["email"], "newsletter") == "pending"


def test_the_referer_query_is_kept_and_an_old_error_list_replaced(site: Site) -> None:
    response = site.post("demo", {"consent": "on"}, referer=f"{PAGE}&form_errors=email:required")
    assert response.headers["location"].count("form_errors") == 1


def test_a_referer_a_browser_reads_as_another_host_gets_no_redirect(site: Site) -> None:
    # urllib reads the host as www.taktwerk.example; a browser reads evil.example.
    for referer in (
        "https://evil.example\\@www.taktwerk.example/newsletter",
        "https://evil.example@www.taktwerk.example/newsletter",
    ):
        response = site.post("demo", {"consent": "on"}, referer=referer)
        assert response.status_code == 422 and "location" not in response.headers, referer
        assert "evil.example" not in response.text


def test_an_authority_with_user_info_or_a_backslash_names_no_origin() -> None:
    assert origin_of("https://evil.example\\@allowed.example/") is None
    assert origin_of("https://user:pw@allowed.example/") is None
    assert origin_of("https://allowed.example:8443/x?y") == "https://allowed.example:8443"


def test_the_way_back_is_built_on_the_allowed_origin(site: Site) -> None:
    response = site.post("demo", {"consent": "on"}, referer=f"{PAGE}#top")
    location = response.headers["location"]
    assert location.startswith(f"{SITE}/newsletter?utm_source=x&form_errors=")


def test_a_form_whose_thank_you_page_is_off_the_allowed_origins_is_not_served(
    tmp_path: Path, store_url: str, store: Engine
) -> None:
    shop = "https://shop.taktwerk.example"
    workspace = write_forms_workspace(tmp_path / "ws", store_url, origins=(shop,))
    context = HttpContext.from_workspace(workspace, engine=store, clock=FixedClock(NOW))
    with serving(create_app(context)) as url, httpx.Client(base_url=url) as client:
        response = client.post(
            "/forms/demo", data=DEMO, headers={"origin": shop, "accept": "application/json"}
        )
    assert response.status_code == 404
