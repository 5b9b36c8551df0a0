"""Web forms: a post checked against its Form definition, the lead and consent it records, and
double opt-in by a signed confirmation link."""

from nurture.forms.intake import CONFIRMATION_KIND, Accepted, FormIntake, Post, TwinPosts
from nurture.forms.opt_in import Confirmation, OptInLink, expire_pending
from nurture.forms.submission import CONSENT, HONEYPOT, FieldError, Submission, read_submission

__all__ = [
    "CONFIRMATION_KIND",
    "CONSENT",
    "HONEYPOT",
    "Accepted",
    "Confirmation",
    "FieldError",
    "FormIntake",
    "OptInLink",
    "Post",
    "Submission",
    "TwinPosts",
    "expire_pending",
    "read_submission",
]
