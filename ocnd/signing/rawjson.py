"""Order-preserving JSON that keeps the source text of every number.

OCN signatures hash the *string form* of every scalar in a message, so a node
that re-encodes a body must not change ``10.0`` into ``10`` or reorder keys.
``loads`` therefore returns plain ``dict`` (insertion order = document order),
``list``, ``str``, ``bool``, ``None`` and, for numbers, :class:`JsonNumber`,
which remembers the token exactly as it appeared.  ``dumps`` writes those
tokens back verbatim, so ``dumps(loads(x)) == x`` for compact input whose
strings are escaped the way ``JSON.stringify`` escapes them.

Two renderers turn a number token into the text a foreign signer would have
hashed:

* :func:`js_number_str` -- ECMAScript ``Number::toString`` of the parsed double
  (what ``String(JSON.parse(tok))`` gives in Node.js);
* :func:`java_number_str` -- what the JVM node sees through Jackson/JsonPath:
  integer tokens stay integers (``Integer``/``Long``/``BigInteger``), any token
  with a fraction or exponent becomes a ``Double`` and is printed with
  ``Double.toString`` (shortest round-trip digits, as in JDK 19+).

Both are built on Python's ``repr(float)``, which already yields the shortest
digit string that round-trips (the same digits JS and modern Java choose).
"""

from __future__ import annotations

import decimal
import functools
import json
import math
import re
from typing import Any

__all__ = [
    "JsonNumber",
    "loads",
    "dumps",
    "js_number_str",
    "java_number_str",
    "to_plain",
    "escape_js_string",
]

_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")


@functools.total_ordering
class JsonNumber:
    """A JSON number token, kept as its exact source text.

    Equality, ordering and hashing follow the parsed value (``int`` for
    integer tokens, ``float`` otherwise), so ``JsonNumber("10.0") == 10`` just
    as ``10.0 == 10`` in Python; byte fidelity is a property of :func:`dumps`,
    not of ``==``.  Use :attr:`text` (or ``str()``) for the token itself.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        if isinstance(text, JsonNumber):
            text = text.text
        if not isinstance(text, str) or not _NUMBER_RE.match(text):
            raise ValueError(f"not a JSON number token: {text!r}")
        self.text = text

    @classmethod
    def of(cls, value: int | float) -> "JsonNumber":
        """Wrap a Python number, rendering floats the JavaScript way."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"not a number: {value!r}")
        if isinstance(value, int):
            return cls(str(value))
        if not math.isfinite(value):
            raise ValueError("JSON cannot represent NaN or Infinity")
        return cls(_float_js(value))

    @property
    def is_integer_token(self) -> bool:
        """True if the token has neither a fraction nor an exponent."""
        return not any(c in self.text for c in ".eE")

    @property
    def value(self) -> int | float:
        """The number as Python ``int`` (integer tokens) or ``float``."""
        if self.is_integer_token:
            return int(self.text)
        return float(self.text)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"JsonNumber({self.text!r})"

    def __int__(self) -> int:
        return int(self.value)

    def __float__(self) -> float:
        return float(self.value)

    def __index__(self) -> int:
        if not self.is_integer_token:
            raise TypeError(f"JSON number {self.text} is not an integer token")
        return int(self.text)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, JsonNumber):
            return self.value == other.value
        if isinstance(other, bool):
            return False
        if isinstance(other, (int, float)):
            return self.value == other
        return NotImplemented

    def __lt__(self, other: object) -> bool:
        if isinstance(other, JsonNumber):
            return self.value < other.value
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return self.value < other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


_DECODER = json.JSONDecoder(
    object_pairs_hook=dict,
    parse_float=JsonNumber,
    parse_int=JsonNumber,
    parse_constant=_reject_constant,
    strict=True,
)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON text, keeping key order and number tokens.

    Bytes must be UTF-8.  Duplicate keys behave like ``JSON.parse``: the
    member keeps the position of its first occurrence and the last value.
    Raises ``ValueError`` (``json.JSONDecodeError``) on malformed input.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        text = bytes(data).decode("utf-8")
    elif isinstance(data, str):
        text = data
    else:
        raise TypeError(f"loads() wants bytes or str, got {type(data).__name__}")
    return _DECODER.decode(text)


# -- string escaping (JSON.stringify / JSON.parse compatible) ---------------

_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_JS_ESCAPE_RE = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')
_SURROGATE_PAIR_RE = re.compile(r"[\ud800-\udbff][\udc00-\udfff]")


def _js_escape_char(m: re.Match[str]) -> str:
    c = m.group(0)
    short = _SHORT_ESCAPES.get(c)
    if short is not None:
        return short
    return "\\u%04x" % ord(c)


def escape_js_string(s: str) -> str:
    """Quote ``s`` exactly like ES2019 ``JSON.stringify`` does.

    Only ``"``, ``\\`` and U+0000..U+001F are escaped (short forms where they
    exist, otherwise ``\\u00xx`` lower-case); lone surrogates become ``\\udxxx``;
    everything else, including ``/`` and non-ASCII, is written raw.
    """
    # Python strings from json.loads may hold surrogate pairs as two code
    # points when the source used \\ud83d\\ude00 escapes; join them first.
    if _SURROGATE_PAIR_RE.search(s):
        s = s.encode("utf-16", "surrogatepass").decode("utf-16")
    return '"' + _JS_ESCAPE_RE.sub(_js_escape_char, s) + '"'


def dumps(obj: Any, compact: bool = True) -> str:
    """Serialize ``obj`` to JSON text.

    ``JsonNumber`` tokens are written verbatim, dicts in their insertion order,
    Python ``int`` as decimal digits and ``float`` the JavaScript way.
    ``compact=False`` indents by two spaces (like ``JSON.stringify(x, null, 2)``).
    Encode the result with UTF-8 to get the wire bytes.
    """
    out: list[str] = []
    _dump(obj, out, compact, 0)
    return "".join(out)


def _dump(obj: Any, out: list[str], compact: bool, level: int) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, JsonNumber):
        out.append(obj.text)
    elif isinstance(obj, str):
        out.append(escape_js_string(obj))
    elif isinstance(obj, int):
        out.append(str(int(obj)))
    elif isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError("JSON cannot represent NaN or Infinity")
        out.append(_float_js(obj))
    elif isinstance(obj, dict):
        if not obj:
            out.append("{}")
            return
        out.append("{")
        first = True
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"JSON object keys must be str, got {type(k).__name__}")
            if not first:
                out.append(",")
            first = False
            if not compact:
                out.append("\n" + "  " * (level + 1))
            out.append(escape_js_string(k))
            out.append(":" if compact else ": ")
            _dump(v, out, compact, level + 1)
        if not compact:
            out.append("\n" + "  " * level)
        out.append("}")
    elif isinstance(obj, (list, tuple)):
        if not obj:
            out.append("[]")
            return
        out.append("[")
        for i, v in enumerate(obj):
            if i:
                out.append(",")
            if not compact:
                out.append("\n" + "  " * (level + 1))
            _dump(v, out, compact, level + 1)
        if not compact:
            out.append("\n" + "  " * level)
        out.append("]")
    else:
        raise TypeError(f"cannot serialize {type(obj).__name__} to JSON")


def to_plain(obj: Any) -> Any:
    """Deep copy with every JsonNumber replaced by ``int``/``float``."""
    if isinstance(obj, JsonNumber):
        return obj.value
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


# -- number rendering ---------------------------------------------------------


def _shortest_digits(x: float) -> tuple[str, int]:
    """Shortest round-trip digits of finite, non-zero ``abs(x)``.

    Returns ``(digits, n)`` with value = 0.d1d2... * 10**n, i.e. the ECMAScript
    ``k`` digits and exponent ``n`` (digits without trailing zeros).
    """
    _sign, digits, exp = decimal.Decimal(repr(abs(x))).as_tuple()
    n = len(digits) + int(exp)
    ds = "".join(map(str, digits)).rstrip("0")
    return ds, n


def _float_js(x: float) -> str:
    """ECMAScript Number::toString(x) for a Python float."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"  # also -0
    sign = "-" if x < 0 else ""
    digits, n = _shortest_digits(x)
    k = len(digits)
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        esign = "+" if e >= 0 else "-"
        mant = digits if k == 1 else digits[0] + "." + digits[1:]
        body = f"{mant}e{esign}{abs(e)}"
    return sign + body


def _float_java(x: float) -> str:
    """Java ``Double.toString(x)`` (JDK 19+ shortest-digit algorithm)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    digits, n = _shortest_digits(x)
    ax = abs(x)
    if len(digits) == 1:
        # JDK 19+ never prints fewer than two significant digits; it picks
        # the two-digit decimal closest to x (only differs for subnormals,
        # e.g. Double.MIN_VALUE -> 4.9E-324).
        two = format(decimal.Decimal(ax), ".1e")  # 'd.dE+xx', exact-value rounding
        mant, _, exp = two.partition("e")
        digits = mant.replace(".", "").rstrip("0") or "0"
        n = int(exp) + 1
    if 1e-3 <= ax < 1e7:
        if n <= 0:
            body = "0." + "0" * (-n) + digits
        else:
            intpart = digits[:n].ljust(n, "0")
            frac = digits[n:] or "0"
            body = intpart + "." + frac
    else:
        mant = digits[0] + "." + (digits[1:] or "0")
        body = f"{mant}E{n - 1}"
    return sign + body


def _token_text(token: Any) -> str:
    if isinstance(token, JsonNumber):
        return token.text
    if isinstance(token, bool):
        raise TypeError("booleans are not numbers")
    if isinstance(token, int):
        return str(token)
    if isinstance(token, float):
        return repr(token)
    if isinstance(token, str):
        return token.strip()
    raise TypeError(f"not a number token: {token!r}")


def js_number_str(token: JsonNumber | str | int | float) -> str:
    """What JavaScript prints for ``String(JSON.parse(token))``.

    ``10.0`` -> ``10``, ``1e21`` -> ``1e+21``, ``0.0000001`` -> ``1e-7``,
    ``-0`` -> ``0``; integers beyond 2**53 lose precision as they do in JS.
    """
    if isinstance(token, int) and not isinstance(token, bool):
        return _float_js(float(token)) if abs(token) >= 2**53 else str(token)
    if isinstance(token, float):
        return _float_js(token)
    text = _token_text(token)
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None
    return _float_js(value)


def java_number_str(token: JsonNumber | str | int | float) -> str:
    """What the JVM node prints for a JSON number token.

    Integer tokens keep their digits (``Integer``/``Long``/``BigInteger``
    ``toString``; ``-0`` -> ``0``); tokens with a fraction or exponent become
    a ``Double``: ``10.0`` -> ``10.0``, ``1e10`` -> ``1.0E10``,
    ``0.0001`` -> ``1.0E-4``, ``123.45`` -> ``123.45``.
    """
    if isinstance(token, int) and not isinstance(token, bool):
        return str(token)
    if isinstance(token, float):
        return _float_java(token)
    text = _token_text(token)
    if re.fullmatch(r"-?[0-9]+", text):
        return str(int(text))
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None
    return _float_java(value)
