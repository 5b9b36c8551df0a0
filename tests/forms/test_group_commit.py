"""Form posts arriving together are stored together: one transaction per group, each post
answered only once its group is committed, as if it had come alone; a group that cannot be
stored answers its posts with 503 and leaves nothing behind."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, select
from sqlalchemy.engine import Engine

from nurture.clock import FixedClock
from nurture.forms import FormIntake, Post, Submission, read_submission
from nurture.http import HttpContext, create_app
from nurture.http.forms import FormRoutes
from nurture.http.writer import GroupWriter, NotRecorded
from nurture.store.schema import audit_log
from tests.engagement.conftest import serving
from tests.forms.conftest import NOW, PAGE, SITE, Site, write_forms_workspace

DEMO = {"email": "jonas@bergwerk.example", "company": "Bergwerk GmbH", "consent": "yes"}


@dataclass
class Served:
    site: Site
    routes: FormRoutes
    url: str


@pytest.fixture
def served(tmp_path: Path, store_url: str, store: Engine) -> Iterator[Served]:
    workspace = write_forms_workspace(tmp_path / "ws", store_url)
    clock = FixedClock(NOW)
    app = create_app(HttpContext.from_workspace(workspace, engine=store, clock=clock))
    routes = next(r.endpoint.__self__ for r in app.routes if getattr(r, "name", "") == "form_post")  # type: ignore[attr-defined]
    with serving(app) as url, httpx.Client(base_url=url, timeout=20) as client:
        yield Served(Site(client, app.state.context, clock, store), routes, url)


_VISITORS = itertools.count(1)


def post_all(url: str, posts: Sequence[tuple[str, dict[str, str]]]) -> list[httpx.Response]:
    """The posts sent at once, each on its own connection and from its own address (under the
    rate limit); their answers in order."""
    answers: list[httpx.Response | None] = [None] * len(posts)
    visitors = [f"198.51.100.{next(_VISITORS)}" for _ in posts]

    def send(n: int) -> None:
        with httpx.Client(base_url=url, timeout=20) as client:
            key, data = posts[n]
            headers = {"origin": SITE, "referer": PAGE, "x-forwarded-for": visitors[n]}
            answers[n] = client.post(f"/forms/{key}", data=data, headers=headers)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(posts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


def in_two_groups(
    served: Served, first: tuple[str, dict[str, str]], others: Sequence[tuple[str, dict[str, str]]]
) -> tuple[list[int], list[httpx.Response]]:
    """``first`` posted alone; while the writer holds its group, ``others`` posted one after
    another, so they queue behind it and form the next group. The size of every group the writer wrote (a
    group retried post by post adds its posts) and the answers, ``first``'s first."""
    writer = served.routes.writer
    write = writer._write_group
    sizes: list[int] = []
    holding = threading.Event()

    def held(conn: Connection, group: Sequence[Any]) -> Sequence[Any]:
        if not holding.is_set():
            holding.set()
            deadline = time.monotonic() + 20
            while writer._queue.qsize() < len(others):  # readiness of the other posts, not a delay
                assert time.monotonic() < deadline, "the other posts never arrived"
                time.sleep(0.01)
        sizes.append(len(group))
        return write(conn, group)

    writer._write_group = held
    answers: list[list[httpx.Response]] = [[] for _ in range(len(others) + 1)]
    senders = []
    for n, post in enumerate([first, *others]):
        sender = threading.Thread(
            target=lambda n=n, post=post: answers[n].extend(post_all(served.url, [post]))
        )
        sender.start()
        senders.append(sender)
        # One at a time, so the group holds them in the order posted: each is queued (or, the
        # first, being written) before the next is sent.
        deadline = time.monotonic() + 20
        while not (holding.is_set() if n == 0 else writer._queue.qsize() >= n):
            assert time.monotonic() < deadline, "a post never arrived"
            time.sleep(0.005)
    for sender in senders:
        sender.join(30)
    return sizes, [a for answered in answers for a in answered]


def test_posts_arriving_together_are_stored_in_one_group_each_as_if_alone(served: Served) -> None:
    site = served.site
    first = ("demo", {**DEMO, "email": "first@bergwerk.example"})
    others = [
        ("demo", {**DEMO, "email": "anna@bergwerk.example"}),
        ("demo", DEMO),
        ("newsletter", {"email": "lena@alpenblick.de", "first_name": "Lena", "consent": "on"}),
        ("demo", {**DEMO, "company": "Bergwerk AG"}),  # the same address again, a new value
        ("demo", {**DEMO, "email": "anna@bergwerk.example"}),  # a double click
    ]
    sizes, answers = in_two_groups(served, first, others)
    assert sizes == [1, 5]
    assert [a.status_code for a in answers] == [303] * 6
    assert site.lead("jonas@bergwerk.example").company == "Bergwerk AG"  # in the order posted
    assert site.lead("anna@bergwerk.example") is not None and site.lead("first@bergwerk.example") is not None
    assert len(site.events()) == 5  # the double click recorded nothing
    assert site.consent("lena@alpenblick.de", "newsletter") == "pending"
    assert len(site.confirmations()) == 1


@contextmanager
def failing_commit(engine: Engine) -> Iterator[Connection]:
    """A transaction that does all its work and then cannot commit (a full disk, a lost server)."""
    with engine.begin() as conn:
        yield conn
        raise OSError("disk I/O error")


def test_a_group_that_cannot_be_committed_answers_every_post_503_and_stores_none(served: Served) -> None:
    site = served.site
    before = site.counts()
    served.routes.writer._transaction = lambda: failing_commit(site.store)
    posts = [("demo", {**DEMO, "email": f"p{n}@bergwerk.example"}) for n in range(4)]
    sizes, answers = in_two_groups(served, posts[0], posts[1:])
    assert sizes == [1, 3, 1, 1, 1]  # the group failed, then each of its posts alone
    assert [a.status_code for a in answers] == [503] * 4
    assert site.counts() == before
    json_answer = site.post("demo", DEMO, accept="application/json")
    assert json_answer.status_code == 503 and json_answer.json() == {"error": "temporarily unavailable"}
    assert site.counts() == before


def test_one_post_that_cannot_be_stored_takes_no_other_with_it(served: Served, monkeypatch: Any) -> None:
    site = served.site
    accept_many = FormIntake.accept_many

    def refusing(self: FormIntake, conn: Connection, then: Any, posts: Sequence[Post], now: Any) -> Any:
        if any(p.submission.email == "bad@bergwerk.example" for p in posts):
            raise ValueError("a post the store refuses")
        return accept_many(self, conn, then, posts, now)

    monkeypatch.setattr(FormIntake, "accept_many", refusing)
    emails = ["a@bergwerk.example", "bad@bergwerk.example", "b@bergwerk.example", "c@bergwerk.example"]
    posts = [("demo", {**DEMO, "email": e}) for e in emails]
    sizes, answers = in_two_groups(served, posts[0], posts[1:])
    assert sizes == [1, 3, 1, 1, 1]
    assert {e: a.status_code for e, a in zip(emails, answers, strict=True)} == {
        "a@bergwerk.example": 303, "bad@bergwerk.example": 503, "b@bergwerk.example": 303,
        "c@bergwerk.example": 303,
    }  # fmt: skip
    assert site.lead("bad@bergwerk.example") is None
    assert all(site.lead(e) is not None for e in emails if e != "bad@bergwerk.example")
    assert len(site.events()) == 3


class WriterCrash(BaseException):
    """What kills a thread: no Exception, so nothing on the way catches it."""


def test_a_writer_that_dies_answers_not_stored_and_the_next_item_starts_a_new_one(store: Engine) -> None:
    written: list[list[str]] = []

    def write(conn: Connection, items: Sequence[str]) -> list[str]:
        if "crash" in items:
            raise WriterCrash
        written.append(list(items))
        return [f"stored {item}" for item in items]

    writer: GroupWriter[str, str] = GroupWriter(store.begin, write, name="test-writer")
    hook = threading.excepthook
    threading.excepthook = lambda args: None  # the crash is the point of the test
    try:

        async def run() -> tuple[BaseException | str, str]:
            try:
                crashed: BaseException | str = await writer.store("crash")
            except NotRecorded as exc:
                crashed = exc
            return crashed, await writer.store("next")

        crashed, after = asyncio.run(run())
    finally:
        threading.excepthook = hook
        writer.stop()
    assert isinstance(crashed, NotRecorded)
    assert after == "stored next" and written == [["next"]]


def test_a_writer_that_loses_count_answers_nobody_as_stored_and_keeps_nothing(store: Engine) -> None:
    def write(conn: Connection, items: Sequence[str]) -> list[str]:
        for item in items:
            conn.execute(audit_log.insert().values(at=datetime.now(UTC), actor="t", action="x", subject=item))
        return ["one answer"]  # for every group, whatever its size

    writer: GroupWriter[str, str] = GroupWriter(store.begin, write, name="test")
    group = [SimpleNamespace(item="a"), SimpleNamespace(item="b")]
    outcomes = writer._write(group)  # type: ignore[arg-type]
    # Each item was then written alone, and answered as stored with its own write.
    assert outcomes == ["one answer", "one answer"]
    with store.connect() as conn:
        assert sorted(conn.scalars(select(audit_log.c.subject))) == ["a", "b"]  # the group's rolled back

    def lost(conn: Connection, items: Sequence[str]) -> list[str]:
        write(conn, items)
        return []

    nobody: GroupWriter[str, str] = GroupWriter(store.begin, lost, name="test")
    [outcome] = nobody._write([SimpleNamespace(item="c")])  # type: ignore[list-item]
    assert isinstance(outcome, NotRecorded)
    with store.connect() as conn:
        assert "c" not in set(conn.scalars(select(audit_log.c.subject)))


def intake_with(site: Site, **settings: Any) -> FormIntake:
    lifecycle = site.context.lifecycle
    assert lifecycle is not None
    return FormIntake(
        lifecycle.program, lifecycle.sales.settings.model_copy(update=settings), site.context.signer
    )


def posts_of(intake: FormIntake, key: str, values: Sequence[dict[str, str]], now: Any, ip: str) -> list[Post]:
    form = intake.program.form(key)
    posts = []
    for data in values:
        submission = read_submission(form, data)
        assert isinstance(submission, Submission)
        posts.append(Post.of(form, submission, now, ip, None))
    return posts


def test_the_limits_count_the_posts_before_in_the_same_group(served: Served) -> None:
    site = served.site
    intake = intake_with(site, opt_in_emails_per_ip=2)
    now = site.clock.now()
    base = {"first_name": "Lena", "consent": "on"}
    victims = posts_of(
        intake, "newsletter", [{**base, "email": f"v{n}@example.org"} for n in range(4)], now, "192.0.2.1"
    )
    renamed = [{**base, "email": "lena@alpenblick.de", "first_name": f"Lena {n}"} for n in range(4)]
    again = posts_of(intake, "newsletter", renamed, now, "192.0.2.9")
    with site.store.begin() as conn:
        by_ip = intake.accept_many(conn, None, victims, now)
    site.clock.advance(timedelta(seconds=1))
    with site.store.begin() as conn:
        by_address = intake_with(site).accept_many(conn, None, again, site.clock.now())
    assert [a.confirmation for a in by_ip] == ["sent", "sent", "ip_limit", "ip_limit"]
    # One address four times: the group writes them one after another, three emails a day.
    assert [a.confirmation for a in by_address] == ["sent", "sent", "sent", "address_limit"]
    assert [a.lead for a in by_address] == ["created", "updated", "updated", "updated"]
    assert len(site.confirmations()) == 5


def test_a_group_stored_twice_is_answered_as_double_posts(served: Served) -> None:
    site = served.site
    intake = intake_with(site)
    now = site.clock.now()
    posts = posts_of(intake, "demo", [DEMO, {**DEMO, "email": "anna@bergwerk.example"}], now, "192.0.2.1")
    with site.store.begin() as conn:
        first = intake.accept_many(conn, None, posts, now)
    with site.store.begin() as conn:
        second = intake.accept_many(conn, None, posts, now)
    assert [a.repeated for a in first] == [False, False] and [a.repeated for a in second] == [True, True]
    assert [a.lead_id for a in second] == [a.lead_id for a in first]
    assert len(site.events()) == 2 and len(site.consent_rows()) == 2
