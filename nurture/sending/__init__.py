"""The outbox sender: queued messages in the database become messages on a relay, exactly once.

The outbox is the truth. The engine records a message (``queued``) before anything is sent. The
sender claims a batch (``claimed``, with a lease), builds the messages, and just before handing a
few of them to the transport marks exactly those ``sending``; each verdict is recorded as soon as
it is known (``sent``, back to ``queued`` for a retry, ``bounced``, ``failed``, ``suppressed``).

After a crash: a ``claimed`` message whose lease ran out was never handed over, so it is queued
again. A ``sending`` one may or may not have reached the relay: it is marked ``unknown``, counted
and reported, and never sent again, because sending an email twice is worse than asking the
operator to look. At most two handover windows (twice the sender's concurrency: one on the wire,
the next one marked while it goes) can end up ``unknown`` per crash.
"""
