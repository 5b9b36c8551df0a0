"""The rep's email: profile, score breakdown, recent engagement and signed one-click links."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nurture.sales.links import ACCEPT, REJECT, handoff_from_token
from nurture.settings import secret_key
from nurture.tokens import InvalidToken, TokenSigner
from tests.sales.desk import MONDAY, Desk

LEAD = "lena@alpenblick.de"
CSV = (
    "email,first_name,last_name,company,job_title,company_size,country\n"
    'lena@alpenblick.de,Lena,"Wolf <script>",Alpenblick & Söhne,Head of Operations,120,DE\n'
)


@pytest.fixture
def desk(desk: Desk) -> Desk:
    desk.import_leads(CSV)
    desk.record(LEAD, "page_view", MONDAY, url="https://taktwerk.example/pricing")
    desk.record(LEAD, "email_click", MONDAY + timedelta(minutes=1))
    desk.make_mql(LEAD, MONDAY + timedelta(minutes=2))
    return desk


def test_the_notification_shows_the_lead_its_score_and_its_engagement(desk: Desk) -> None:
    [notice] = desk.sales_messages(LEAD)
    assert notice.subject == "New lead for you: Lena Wolf <script> (Alpenblick & Söhne), score 105"
    text = notice.text
    assert "Hello Anna Rep," in text
    # The rep's zone, in the workspace's locale (English): CLDR's "h:mm a" with its narrow space.
    assert "Please accept or reject it by Mon, Mar 2, 2026 1:32\u202fPM (Europe/Berlin)" in text
    assert "Head of Operations, Alpenblick & Söhne" in text
    assert "Score 105 (fit 25, behaviour 80)" in text
    for line in (
        "+15  Decision maker",
        "+10  Mid-sized company",
        "+60  Demo requested",
        "+15  Pricing page",
        "+5  email_click",
    ):
        assert line in text
    assert "page_view  https://taktwerk.example/pricing" in text
    html = notice.html
    assert "Wolf &lt;script&gt;" in html and "<script>" not in html  # lead data is escaped
    assert "Alpenblick &amp; Söhne" in html


def test_the_links_are_signed_for_their_handoff_and_purpose(desk: Desk) -> None:
    [notice] = desk.sales_messages(LEAD)
    [handoff] = desk.handoffs(LEAD)
    signer = TokenSigner(secret_key(desk.settings, desk.root))
    accept_link = f"https://nurture.example/sales/accept/{signer.sign(ACCEPT, [handoff.id])}"
    reject_link = f"https://nurture.example/sales/reject/{signer.sign(REJECT, [handoff.id])}"
    assert accept_link in notice.text and reject_link in notice.text
    assert f'href="{accept_link}"' in notice.html
    token = accept_link.rsplit("/", 1)[1]
    assert handoff_from_token(signer, ACCEPT, token) == handoff.id
    with pytest.raises(InvalidToken):
        handoff_from_token(signer, REJECT, token)  # an accept link cannot reject
    with pytest.raises(InvalidToken):
        handoff_from_token(signer, ACCEPT, token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])


def test_a_workspace_template_overrides_the_default(desk: Desk) -> None:
    folder = desk.root / "templates" / "sales"
    folder.mkdir()
    (folder / "notification.subject.txt").write_text("Neuer Lead: {{ lead.name }} ({{ score.total }})\n")
    (folder / "notification.txt").write_text("Hallo {{ recipient.name }}: {{ accept_url }}\n")
    desk.reload()
    desk.import_leads("email,first_name,country\nmax@bergwerk.at,Max,AT\n")
    desk.make_mql("max@bergwerk.at", MONDAY)
    [notice] = desk.sales_messages("max@bergwerk.at")
    assert notice.subject == "Neuer Lead: Max (120)"
    assert notice.text.startswith("Hallo Ben Rep: https://nurture.example/sales/accept/")
    assert "Accept lead" in notice.html  # the HTML part was not overridden


def test_a_broken_override_falls_back_to_the_default(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    folder = desk.root / "templates" / "sales"
    folder.mkdir()
    (folder / "notification.html").write_text("{{ lead.nonexistent.deeper }}")
    desk.reload()
    desk.import_leads("email,first_name,country\nmax@bergwerk.at,Max,AT\n")
    desk.make_mql("max@bergwerk.at", MONDAY)
    [notice] = desk.sales_messages("max@bergwerk.at")
    assert "Accept lead" in notice.html
    assert "templates/sales/notification failed" in caplog.text


def test_an_override_over_a_render_limit_falls_back_to_the_default(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    folder = desk.root / "templates" / "sales"
    folder.mkdir()
    (folder / "notification.html").write_text("{{ 'lead ' * 1000000 }}")  # over render_max_chars
    desk.reload()
    desk.import_leads("email,first_name,country\nmax@bergwerk.at,Max,AT\n")
    desk.make_mql("max@bergwerk.at", MONDAY)  # the lead is routed all the same
    [notice] = desk.sales_messages("max@bergwerk.at")
    assert "Accept lead" in notice.html
    assert "templates/sales/notification failed" in caplog.text


def test_subjects_stay_on_one_line_whatever_a_name_holds(desk: Desk) -> None:
    from nurture.store.schema import leads

    desk.import_leads("email,country\nevil@firm.de,DE\n")
    with desk.store.begin() as conn:  # the importer refuses such names; other writers might not
        conn.execute(
            leads.update().where(leads.c.email == "evil@firm.de").values(first_name="Eve\r\nBcc: x@y.z")
        )
    desk.make_mql("evil@firm.de", MONDAY)
    [notice] = desk.sales_messages("evil@firm.de")
    assert "\n" not in notice.subject and "\r" not in notice.subject
