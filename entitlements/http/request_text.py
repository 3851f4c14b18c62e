"""Flask's request, with every query parameter and form field held to the text rules.

One place for every view, API and page alike: a NUL byte, invalid UTF-8 or an over-long value
in a query string or form is a 400 naming the field, raised when the view first reads it, so
nothing reaches the database. Bodies of the JSON API are checked by http/body.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any
from urllib.parse import parse_qsl

from flask import Request
from werkzeug.datastructures import MultiDict
from werkzeug.formparser import FormDataParser
from werkzeug.utils import cached_property

from ..errors import InvalidError
from ..text_rules import shown, text_problem

URLENCODED = "application/x-www-form-urlencoded"


def check_pairs(pairs: Iterable[tuple[str, str]], what: str) -> None:
    """Raise a 400 naming the first name or value that breaks the text rules."""
    for name, value in pairs:
        for text, part in ((name, "name"), (value, "")):
            problem = text_problem(text)
            if problem is not None:
                label = shown(name)
                raise InvalidError(
                    f"{what} {label!r}{' ' + part if part else ''} {problem}", field=label
                )


def _decode(raw: bytes) -> list[tuple[str, str]]:
    # werkzeug keeps invalid UTF-8 percent-encoded (%ED%A0%80 arrives as those nine
    # characters) or fails on raw bytes; surrogateescape keeps it visible to the text rules.
    return parse_qsl(
        raw.decode("utf-8", "surrogateescape"), keep_blank_values=True, errors="surrogateescape"
    )


class _FormDataParser(FormDataParser):
    """werkzeug's form parser, but invalid UTF-8 in a urlencoded body is kept, not dropped."""

    def parse(
        self,
        stream: IO[bytes],
        mimetype: str,
        content_length: int | None,
        options: dict[str, str] | None = None,
    ) -> tuple[IO[bytes], MultiDict[str, Any], MultiDict[str, Any]]:
        """Parse a form; werkzeug would answer an empty form for invalid UTF-8."""
        if mimetype != URLENCODED:
            return super().parse(stream, mimetype, content_length, options)
        # The stream is already limited to the request's max_content_length.
        return stream, self.cls(_decode(stream.read())), self.cls()


class CheckedRequest(Request):
    """A request whose query string and form refuse text the database cannot store."""

    form_data_parser_class = _FormDataParser

    @cached_property
    def args(self) -> MultiDict[str, str]:
        """The query parameters; a value breaking the text rules is a 400 naming it."""
        pairs = _decode(self.query_string)
        check_pairs(pairs, "query parameter")
        return self.parameter_storage_class(pairs)

    @property
    def full_path(self) -> str:
        """The path and query string, once the query string is known to be valid text."""
        self.args  # noqa: B018  (raises the 400 before werkzeug's strict decode raises)
        return super().full_path

    def _load_form_data(self) -> None:
        super()._load_form_data()
        try:
            check_pairs(self.form.items(multi=True), "form field")
            check_pairs(
                ((name, file.filename or "") for name, file in self.files.items(multi=True)),
                "file name of",
            )
        except InvalidError:
            # Nothing of a refused form is left for an error page or a later read.
            for _, file in self.files.items(multi=True):
                file.close()
            self.__dict__["form"] = self.parameter_storage_class()
            self.__dict__["files"] = self.parameter_storage_class()
            raise
