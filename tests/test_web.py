"""ocnd.web request handling that needs no running node."""

import pytest
from twisted.web import http
from twisted.web.test.requesthelper import DummyChannel

from ocnd.web import LimitedRequest, with_backlog


class _Captured(LimitedRequest):
    def process(self) -> None:  # stop before the resource tree: only the parsing is under test
        self.processed = True


def _post(body: bytes, ctype: bytes) -> _Captured:
    request = _Captured(DummyChannel())
    request.requestHeaders.setRawHeaders(b"content-type", [ctype])
    request.gotLength(len(body))
    request.handleContentChunk(body)
    request.requestReceived(b"POST", b"/ocpi/2.2.1/sender/locations?x=1", b"HTTP/1.1")
    return request


def test_post_body_is_not_parsed_as_html_form(monkeypatch):
    # regression: the opt-out was a class attribute, which Request.__init__ overwrote per instance,
    # so every POST still went through the email-package Content-Type parser
    def boom(line):
        raise AssertionError(f"Content-Type parsed as a form: {line!r}")

    monkeypatch.setattr(http, "_parseContentType", boom)
    request = _post(b"a=1&b=2", b"application/x-www-form-urlencoded")
    assert request.processed
    assert request.args == {b"x": [b"1"]}  # the query string still is
    assert request.content.read() == b"a=1&b=2"  # the body is left as it came


def test_json_post_body_reaches_the_resource_untouched():
    body = b'{"id":"LOC1","n":1.50}'
    request = _post(body, b"application/json; charset=utf-8")
    assert request.processed
    assert request.content.read() == body


@pytest.mark.parametrize("listen, expected", [
    ("tcp:8080:interface=127.0.0.1", "tcp:8080:interface=127.0.0.1:backlog=1024"),
    ("tcp6:8080", "tcp6:8080:backlog=1024"),
    ("ssl:443:privateKey=k.pem:certKey=c.pem", "ssl:443:privateKey=k.pem:certKey=c.pem:backlog=1024"),
    ("unix:/run/ocnd.sock", "unix:/run/ocnd.sock:backlog=1024"),
    ("tcp:8080:backlog=5", "tcp:8080:backlog=5"),                        # the operator's own value wins
    ("systemd:domain=INET:index=0", "systemd:domain=INET:index=0"),      # the socket unit sets Backlog=
    (r"unix:/tmp/a\:backlog=x", r"unix:/tmp/a\:backlog=x:backlog=1024"),  # escaped colon: part of the path
])
def test_listen_string_gets_a_backlog(listen, expected):
    assert with_backlog(listen, 1024) == expected
