"""ocnd.web request handling that needs no running node."""

from twisted.web import http
from twisted.web.test.requesthelper import DummyChannel

from ocnd.web import LimitedRequest


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
