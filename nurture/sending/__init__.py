"""The outbox sender: queued messages in the database become messages on a relay, exactly once.

The outbox is the truth. The engine records a message (``queued``) before anything is sent. The
sender claims a batch (``claimed``, with a lease read from the clock and a claim token), builds
the messages, and marks each one ``sending``, with the bytes about to go, only as it is handed to
a connection; each verdict is recorded as soon as it is known (``sent``, back to ``queued`` for a
retry, ``bounced``, ``failed``, ``suppressed``, or ``unknown`` when the relay's answer to the
whole message was lost). Leases are extended while the sender works; every write checks the claim
token, so only the current holder of a row decides about it (:mod:`nurture.sending.ledger`).

After a crash: a ``claimed`` message whose lease ran out was never handed over, so it is queued
again. A ``sending`` one may or may not have reached the relay: it is marked ``unknown``, counted
and reported, and never sent again, because sending an email twice is worse than asking the
operator to look (``nurture outbox unknown``, :mod:`nurture.sending.unknown`). At most one
message per connection can end up ``unknown`` per crash.
"""
