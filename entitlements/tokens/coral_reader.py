"""Who the site says its reader is, checked before Coral shows it: the username and the email.

Coral creates the user from the token with `skipUsernameValidation: true` and checks the email
only as `Joi.string().lowercase()` (sso.ts), so these rules are the only ones a name meets.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidError, UnprocessableError

USERNAME_MAX = 100
EMAIL_MAX = 254
# The patterns the OpenAPI document states (api/schemas_coral.py), written so that Python's re
# and ECMA-262 read them alike. A username pattern refuses the controls, invisible formatting
# characters (bidi overrides, zero-width ones, the BOM), line and paragraph separators and
# private use anywhere, and any space at either end. (Surrogates are left out: in ECMA-262 a
# class without the u flag sees an emoji as two of them.)
_NEVER = (
    "\\x00-\\x1f\\x7f-\\x9f\\xad\\u061c\\u180e\\u200b-\\u200f\\u2028-\\u202e"
    "\\u2060-\\u206f\\ue000-\\uf8ff\\ufeff\\ufff9-\\ufffb"
)
_NOT_AT_ENDS = _NEVER + "\\x20\\xa0\\u1680\\u2000-\\u200a\\u202f\\u205f\\u3000"
USERNAME_PATTERN = f"[^{_NOT_AT_ENDS}](?:[^{_NEVER}]*[^{_NOT_AT_ENDS}])?"
# RFC 5322 dot-atom local part (atext, dots neither leading, trailing nor doubled), then a
# domain of at least two letter-digit-hyphen labels (RFC 1035: 1 to 63, no hyphen at an end).
# ASCII only: no quoted local part, comment, display name, list or second @.
_ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = f"{_ATEXT}(?:\\.{_ATEXT})*@{_LABEL}(?:\\.{_LABEL})+"
_USERNAME = re.compile(USERNAME_PATTERN)
_EMAIL = re.compile(EMAIL_PATTERN)
# Beyond the pattern (422: a JSON Schema pattern cannot name Unicode categories).
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_MAX_MARKS_IN_A_ROW = 2
# Capital A in Latin, Greek and Cyrillic looks the same (U+0041, U+0391, U+0410), and so do
# many other letters: one word keeps to one of these scripts.
_CONFUSABLE_SCRIPTS = {"LATIN", "GREEK", "CYRILLIC"}
USERNAME_RULES = (
    "1 to 100 characters (after NFC normalisation) with at least one letter or digit; no control, "
    "format (bidi, zero-width), unassigned, private-use or line-separator character; no space "
    "at either end; no combining mark first or more than 2 in a row; no word mixing Latin, "
    "Greek or Cyrillic letters"
)


@dataclass(frozen=True)
class CoralReader:
    """The reader as the site knows them: Coral shows the username, mails the email."""

    username: str
    email: str


def coral_reader(body: dict[str, Any]) -> CoralReader:
    """Return the reader named by a request body; 400 off the documented pattern, 422 else."""
    username, email = body.get("username"), body.get("email")
    if (
        not isinstance(username, str)
        or len(username) > USERNAME_MAX
        or not _USERNAME.fullmatch(username)
    ):
        raise InvalidError(f"username must be {USERNAME_RULES}", field="username")
    if not isinstance(email, str) or len(email) > EMAIL_MAX or not _EMAIL.fullmatch(email):
        raise InvalidError(
            "email must be an ASCII address: one @, a dot-atom local part and a domain name "
            "with a dot",
            field="email",
        )
    name = unicodedata.normalize("NFC", username)
    problem = username_problem(name)
    if problem:
        raise UnprocessableError(
            f"username {problem}; it must be {USERNAME_RULES}", field="username"
        )
    return CoralReader(name, email)


def username_problem(name: str) -> str | None:
    """Return what is wrong with an NFC username the pattern let through, or None."""
    categories = [unicodedata.category(c) for c in name]
    checks = (
        (len(name) > USERNAME_MAX, f"is longer than {USERNAME_MAX} characters once normalised"),
        (
            any(category in _REFUSED_CATEGORIES for category in categories),
            "holds an invisible, unassigned or private-use character",
        ),
        (
            name[0].isspace() or name[-1].isspace() or "Zs" in (categories[0], categories[-1]),
            "starts or ends with a space",
        ),
        (not any(c[0] in "LN" for c in categories), "has no letter or digit"),
        (categories[0][0] == "M", "starts with a combining mark"),
        (
            _most_marks_in_a_row(categories) > _MAX_MARKS_IN_A_ROW,
            f"stacks more than {_MAX_MARKS_IN_A_ROW} combining marks",
        ),
        (
            any(len(_confusable_scripts(word)) > 1 for word in name.split()),
            "mixes look-alike Latin, Greek and Cyrillic letters in one word",
        ),
    )
    return next((problem for broken, problem in checks if broken), None)


def _most_marks_in_a_row(categories: list[str]) -> int:
    most = in_a_row = 0
    for category in categories:
        in_a_row = in_a_row + 1 if category in ("Mn", "Me") else 0
        most = max(most, in_a_row)
    return most


def _confusable_scripts(word: str) -> set[str]:
    # Unicode names start with the script: "CYRILLIC CAPITAL LETTER A".
    scripts = {unicodedata.name(c, "").partition(" ")[0] for c in word if c.isalpha()}
    return scripts & _CONFUSABLE_SCRIPTS
