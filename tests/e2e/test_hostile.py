"""Hostile traffic through a real Envoy running the filter, over raw HTTP/1.1 bytes and over
HTTP/2 frames sent unvalidated: oversized and repeated Authorization headers, control and
non-UTF-8 bytes in header values and paths, tokens one character off a registered one, every
SPEC §5 ambiguous path form (raw and percent-encoded, both cases), very long paths and queries.

For every request the answer must be the decision the core makes for it (asked of the release
CLI, `tokengate check`, at the same `now`) — the same status, code, body and headers, or the
same identity headers upstream — or Envoy's own refusal (a 4xx, a stream reset, a closed
connection) before the filter ran. Never a 5xx. Afterwards: the filter's counters moved by
exactly the decisions seen, no VM was replaced or failed, the log has no panic or wasm failure,
no token or digest shows anywhere, and a valid request still passes.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

import policy_kit as pk
from harness import H2Client, bootstrap, hcm_of, raw_http1, wasm_filter
from hostile_kit import (
    LeakScanner,
    as_envoy_joins,
    Oracle,
    check_against,
    classify,
    counter_delta,
    expected_counters,
    filter_counters,
    hcm_stats,
    record_figures,
    vm_problems,
    vm_snapshot,
)

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).timestamp()
POLICIES = {"main": pk.policy(NOW), "query": pk.policy(NOW, query_token=True)}
A, B = pk.ACCOUNT_A, pk.ACCOUNT_B
BASE = f"/api/v2/accounts/{A}/jobs/"
HOST = "api.example.com"


def b(s) -> bytes:
    return s if isinstance(s, bytes) else s.encode("latin-1")


@dataclass(frozen=True)
class H:
    """One hostile request. `target`, `authority` and `headers` are what the filter sees (and
    what the oracle decides); `h1` / `h2` override what goes on the wire when the wire form is
    itself the point (a folded header, a duplicate pseudo-header...)."""

    id: str
    target: bytes
    headers: tuple = ()
    method: bytes = b"GET"
    authority: bytes = HOST.encode()
    policy: str = "main"
    proto: str = "both"  # h1, h2 or both
    group: str = ""
    h1: bytes | None = None
    h2: tuple | None = None

    def wire_h1(self) -> bytes:
        if self.h1 is not None:
            return self.h1
        lines = [self.method + b" " + self.target + b" HTTP/1.1", b"Host: " + self.authority]
        lines += [n + b": " + v for n, v in self.headers]
        if self.method == b"POST":
            lines.append(b"Content-Length: 0")
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def wire_h2(self) -> list:
        if self.h2 is not None:
            return list(self.h2)
        h = [(b":method", self.method), (b":scheme", b"http"), (b":authority", self.authority), (b":path", self.target)]
        return h + [(n.lower(), v) for n, v in self.headers]


def auth(v) -> tuple:
    return ((b"Authorization", b(v)),)


TOKEN_A = auth("Token " + pk.PAT_A)


# ---- the table ---------------------------------------------------------------------------------


def oversized_auth() -> list:
    out = []
    for n in (1024, 8192, 32768, 59000, 65536, 98304):
        k = f"{n // 1024}k" if n % 1024 == 0 else str(n)
        out += [
            H(f"auth_{k}_junk", b(BASE), auth("Token " + "a" * n)),
            H(f"auth_{k}_pat_body", b(BASE), auth("Token dbtu_" + "A" * n)),
            H(f"auth_{k}_jwt", b(BASE), auth("Bearer eyJ" + "a" * n + ".e30.c2ln")),
            H(f"auth_{k}_valid_then_spaces", b(BASE), auth("Token " + pk.PAT_A + " " * n)),
            H(f"auth_{k}_valid_comma_junk", b(BASE), auth("Token " + pk.PAT_A + "," + "x" * n)),
        ]
    # Many headers besides it, each small: Envoy's header count limit, not size.
    filler = tuple((b"x-filler-%d" % i, b"v" * 64) for i in range(95))
    out.append(H("auth_after_95_headers", b(BASE), filler + TOKEN_A))
    filler = tuple((b"x-filler-%d" % i, b"v" * 64) for i in range(150))
    out.append(H("auth_after_150_headers", b(BASE), filler + TOKEN_A))
    return [H(**{**c.__dict__, "group": "oversized Authorization"}) for c in out]


def repeated_auth() -> list:
    names = [b"Authorization", b"authorization", b"AUTHORIZATION", b"AuThOrIzAtIoN"]
    out = []
    for n in (2, 3, 10, 50, 99, 120):
        out.append(H(f"auth_x{n}_same", b(BASE), tuple((names[i % 4], b("Token " + pk.PAT_A)) for i in range(n))))
    pairs = {
        "valid_then_empty": [("Token " + pk.PAT_A), ""],
        "empty_then_valid": ["", "Token " + pk.PAT_A],
        "valid_then_basic": ["Token " + pk.PAT_A, "Basic dXNlcjpwYXNz"],
        "basic_then_valid": ["Basic dXNlcjpwYXNz", "Token " + pk.PAT_A],
        "valid_then_other_account": ["Token " + pk.PAT_A, "Token " + pk.PAT_B],
        "other_account_then_valid": ["Token " + pk.PAT_B, "Token " + pk.PAT_A],
        "valid_then_revoked": ["Token " + pk.PAT_A, "Token " + pk.REVOKED_A],
        "jwt_then_valid": ["Bearer " + pk.JWT, "Token " + pk.PAT_A],
    }
    for k, vs in pairs.items():
        out.append(H(f"auth_pair_{k}", b(BASE), tuple((b"Authorization", b(v)) for v in vs)))
    one_value = {
        "comma_two_tokens": f"Token {pk.PAT_A}, Token {pk.PAT_B}",
        "comma_no_space": f"Token {pk.PAT_A},{pk.PAT_A}",
        "two_schemes": f"Token {pk.PAT_A} Token {pk.PAT_A}",
        "token_space_token": f"Token {pk.PAT_A} {pk.PAT_B}",
        "tab_inside": f"Token {pk.PAT_A}\t{pk.PAT_B}",
        "scheme_twice": f"Token Token {pk.PAT_A}",
        "bearer_token": f"Bearer Token {pk.PAT_A}",
        "trailing_comma": f"Token {pk.PAT_A},",
        "leading_comma": f", Token {pk.PAT_A}",
        "quoted": f'Token "{pk.PAT_A}"',
        "colon_scheme": f"Token:{pk.PAT_A}",
        "no_scheme": pk.PAT_A,
        "scheme_only": "Token",
        "scheme_spaces": "Bearer      ",
    }
    for k, v in one_value.items():
        out.append(H(f"auth_value_{k}", b(BASE), auth(v)))
    return [H(**{**c.__dict__, "group": "repeated or ambiguous Authorization"}) for c in out]


BYTES = {
    "nul": b"\x00", "soh": b"\x01", "bs": b"\x08", "ht": b"\x09", "vt": b"\x0b", "ff": b"\x0c", "esc": b"\x1b",
    "us": b"\x1f", "del": b"\x7f", "x80": b"\x80", "nbsp": b"\xa0", "bad_utf8": b"\xc3\x28", "overlong": b"\xc0\xaf",
    "surrogate": b"\xed\xa0\x80", "u2028": b"\xe2\x80\xa8", "above_u10ffff": b"\xf4\x90\x80\x80", "xff": b"\xff",
    "bom": b"\xef\xbb\xbf", "cr": b"\r", "lf": b"\n", "crlf_header": b"\r\nx-injected: 1",
}
# In HTTP/1.1, CR and LF are framing, not content: they go in HTTP/2 values only.
FRAMING = {"cr", "lf", "crlf_header"}


def bytes_in_headers() -> list:
    pat = b(pk.PAT_A)
    out = []
    for name, x in BYTES.items():
        proto = "h2" if name in FRAMING else "both"
        places = {
            "auth_body_start": (b(BASE), ((b"Authorization", b"Token dbtu_" + x + pat[6:]),), HOST.encode()),
            "auth_token_end": (b(BASE), ((b"Authorization", b"Token " + pat[:-1] + x),), HOST.encode()),
            "auth_appended": (b(BASE), ((b"Authorization", b"Token " + pat + x),), HOST.encode()),
            "auth_scheme": (b(BASE), ((b"Authorization", b"To" + x + b"ken " + pat),), HOST.encode()),
            "auth_separator": (b(BASE), ((b"Authorization", b"Token" + x + pat),), HOST.encode()),
            "host": (b(BASE), TOKEN_A, b"ab123" + x + b".us1.dbt.com"),
            "accept": (b(BASE), ((b"Accept", b"application/problem+json" + x),), HOST.encode()),
            "identity_header": (b(BASE), TOKEN_A + ((b"x-dbt-account-id", b(B) + x),), HOST.encode()),
            "other_header": (b(BASE), TOKEN_A + ((b"x-anything", b"a" + x + b"b"),), HOST.encode()),
        }
        for where, (target, headers, authority) in places.items():
            out.append(H(f"byte_{name}_in_{where}", target, headers, authority=authority, proto=proto,
                         group="control and non-UTF-8 bytes in headers"))
    return out


def bytes_in_path() -> list:
    out = []
    for name, x in BYTES.items():
        if name == "crlf_header":
            continue
        # A tab in the HTTP/1.1 request line separates like a space: see wire_oddities.
        proto = "h2" if name in FRAMING or name == "ht" else "both"
        places = {
            "segment": f"/api/v2/accounts/{A}/jo".encode() + x + b"bs/",
            "after_account": f"/api/v2/accounts/{A}".encode() + x + b"/jobs/",
            "end": b(BASE) + x,
            "query": b(BASE) + b"?q=" + x,
        }
        for where, target in places.items():
            out.append(H(f"path_byte_{name}_in_{where}", target, TOKEN_A, proto=proto,
                         group="control and non-UTF-8 bytes in the path"))
    return out


def _rotate(c: str, alphabet: str) -> str:
    return alphabet[(alphabet.index(c) + 1) % len(alphabet)] if c in alphabet else alphabet[0]


BODY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def near_misses(label: str, token: str, prefix_len: int, alphabet: str, target: str, method: str = "GET") -> list:
    """The token with one character changed, dropped or doubled, at each position class."""
    positions = {f"prefix{i}": i for i in range(prefix_len)}
    positions.update({"body_start": prefix_len, "body_middle": (prefix_len + len(token)) // 2, "end": len(token) - 1})
    out = []
    for pname, i in positions.items():
        c = token[i]
        variants = {
            "sub": token[:i] + (_rotate(c, alphabet) if c in alphabet else "x") + token[i + 1:],
            "del": token[:i] + token[i + 1:],
            "dup": token[:i] + c + token[i:],
        }
        if c.isalpha():
            variants["case"] = token[:i] + c.swapcase() + token[i + 1:]
        for op, t in variants.items():
            out.append(H(f"near_{label}_{pname}_{op}", b(target), auth("Token " + t), method=method.encode(),
                         group="tokens one character off"))
    out.append(H(f"near_{label}_appended", b(target), auth("Token " + token + alphabet[0]), method=method.encode(),
                 group="tokens one character off"))
    return out


def near_miss_tokens() -> list:
    run = f"/api/v2/accounts/{A}/jobs/7/run/"
    return (near_misses("pat", pk.PAT_A, 5, BODY_ALPHABET, BASE)
            + near_misses("service", pk.SVC_A, 5, BODY_ALPHABET, run, "POST")
            + near_misses("revoked", pk.REVOKED_A, 5, BODY_ALPHABET, BASE)
            + near_misses("user_key", pk.USER_KEY, 0, "0123456789abcdef", BASE)
            + near_misses("jwt", pk.JWT, 3, BODY_ALPHABET + ".", BASE))


FORMS = [
    "/./", "/../", "//", "\\", "/.", "/..", "/%2F", "%2F", "%2f", "%2E", "%2e", "/%2E/", "/%2e%2E/", "/.%2e/",
    "/%2E%2e/", "%5C", "%5c", "%00", "%0A", "%0d", "%7F", "%25", "%252F", "%41", "%7e", "%2D", "%", "%G0", "%2",
    "\x00", "\x01", "\x7f", "#frag", "%23", ";x=1", "%20", "%3B", "%C3%A9", "%c3%a9", "/%2e%2e%2f", "/..%2F", "%2F..%2F",
]


def ambiguous_paths() -> list:
    out = []
    for j, f in enumerate(FORMS):
        places = {
            "start": f"/api{f}v2/accounts/{A}/jobs/",
            "after_account": f"/api/v2/accounts/{A}{f}jobs/",
            "end": f"/api/v2/accounts/{A}/jobs{f}",
            "between_accounts": f"/api/v2/accounts/{B}{f}{A}/jobs/",
        }
        for i, (where, target) in enumerate(places.items()):
            # Every other one asks for RFC 9457 problem details: both denial bodies are compared.
            accept = ((b"Accept", b"application/problem+json"),) if (i + j) % 2 else ()
            tok = pk.PAT_B if where == "between_accounts" else pk.PAT_A
            out.append(H(f"form_{j:02d}_{where}", b(target), auth("Token " + tok) + accept, group="SPEC §5 ambiguous paths"))
    accounts = {
        "u64_max": "18446744073709551615", "u64_overflow": "18446744073709551616", "leading_zeros": "000" + A,
        "plus_sign": "+" + A, "minus": "-1", "hex": "0x10", "trailing_letters": A + "abc", "empty": "",
        "arabic_indic_digit": "\u0661",
    }
    for k, acc in accounts.items():
        out.append(H(f"account_{k}", f"/api/v2/accounts/{acc}/jobs/".encode("utf-8"), TOKEN_A, group="SPEC §5 ambiguous paths"))
        out.append(H(f"account_{k}_other_token", f"/api/v2/accounts/{acc}/jobs/".encode("utf-8"), auth("Token " + pk.PAT_B),
                     group="SPEC §5 ambiguous paths"))
    return out


def long_targets() -> list:
    out = []
    for n in (4096, 16384, 59000, 65536, 98304):
        out.append(H(f"long_segment_{n}", b(f"/api/v2/accounts/{A}/jobs/" + "a" * n), TOKEN_A))
        out.append(H(f"long_query_{n}", b(BASE + "?q=" + "a" * n), TOKEN_A))
    out.append(H("many_segments_20000", b(BASE + "a/" * 20000), TOKEN_A))
    out.append(H("many_query_params_5000", b(BASE + "?" + "&".join(f"p{i}=v" for i in range(5000))), TOKEN_A))
    out.append(H("long_path_sunset_endpoint", b("/api/v2/accounts/" + "?" + "x" * 30000), ()))
    out.append(H("long_path_encoded_slash_at_end", b(BASE + "a" * 30000 + "%2F"), TOKEN_A))
    out.append(H("long_query_encoded_forms", b(BASE + "?q=" + "%2F%2e%5C/../" * 2000), TOKEN_A))
    return [H(**{**c.__dict__, "group": "very long paths and queries"}) for c in out]


def query_tokens() -> list:
    q = "query"
    t = pk.PAT_A
    cases = {
        "plain": (BASE + f"?token={t}", ()),
        "twice": (BASE + f"?token={t}&token={t}", ()),
        "and_header": (BASE + f"?token={t}", TOKEN_A),
        "empty": (BASE + "?token=", ()),
        "upper_name": (BASE + f"?TOKEN={t}", ()),
        "among_others": (BASE + f"?a=1&token={t}&b=2", ()),
        "encoded_first_char": (BASE + "?token=%64" + t[1:], ()),
        "encoded_nul": (BASE + f"?token={t}%00", ()),
        "raw_xff": (BASE + "?token=" + t[:-1] + "\xff", ()),
        "raw_soh": (BASE + "?token=" + t[:-1] + "\x01", ()),
        "near_miss": (BASE + "?token=" + t[:-1] + _rotate(t[-1], BODY_ALPHABET), ()),
        "other_account": (f"/api/v2/accounts/{A}/jobs/?token={pk.PAT_B}", ()),
        "semicolon": (BASE + f"?x=1;token={t}", ()),
        "fragment": (BASE + f"?token={t}#x", ()),
    }
    return [H(f"query_{k}", target.encode("latin-1"), headers, policy=q, group="tokens in the query")
            for k, (target, headers) in cases.items()]


def wire_oddities() -> list:
    """Forms only one protocol can carry. The filter sees what Envoy made of them; the oracle
    gets that (target, authority, headers)."""
    p = b(pk.PAT_A)
    base = b(BASE)
    h1 = [
        H("h1_obs_fold", base, TOKEN_A, proto="h1",
          h1=b"GET " + base + b" HTTP/1.1\r\nHost: " + b(HOST) + b"\r\nAuthorization: Token\r\n " + p + b"\r\n\r\n"),
        H("h1_bare_lf", base, TOKEN_A, proto="h1",
          h1=b"GET " + base + b" HTTP/1.1\nHost: " + b(HOST) + b"\nAuthorization: Token " + p + b"\n\n"),
        H("h1_absolute_form_other_host", base, TOKEN_A, authority=b"cd456.us1.dbt.com", proto="h1",
          h1=b"GET http://cd456.us1.dbt.com" + base + b" HTTP/1.1\r\nHost: ab123.us1.dbt.com\r\nAuthorization: Token " + p + b"\r\n\r\n"),
        # SPEC §5: two Host values are ambiguous; the oracle sees the second one as a header.
        H("h1_two_host_headers", base, TOKEN_A + ((b"host", b"cd456.us1.dbt.com"),),
          authority=b"ab123.us1.dbt.com", proto="h1",
          h1=b"GET " + base + b" HTTP/1.1\r\nHost: ab123.us1.dbt.com\r\nHost: cd456.us1.dbt.com\r\nAuthorization: Token " + p + b"\r\n\r\n"),
        H("h1_no_host", base, TOKEN_A, authority=None, proto="h1",
          h1=b"GET " + base + b" HTTP/1.1\r\nAuthorization: Token " + p + b"\r\n\r\n"),
        H("h1_http10_no_host", base, TOKEN_A, authority=None, proto="h1",
          h1=b"GET " + base + b" HTTP/1.0\r\nAuthorization: Token " + p + b"\r\n\r\n"),
        H("h1_space_before_colon", base, TOKEN_A, proto="h1",
          h1=b"GET " + base + b" HTTP/1.1\r\nHost: x\r\nAuthorization : Token " + p + b"\r\n\r\n"),
        H("h1_header_without_colon", base, TOKEN_A, proto="h1",
          h1=b"GET " + base + b" HTTP/1.1\r\nHost: x\r\nAuthorization Token " + p + b"\r\n\r\n"),
        H("h1_chunked_and_length", base, TOKEN_A, method=b"POST", proto="h1",
          h1=b"POST " + base + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Token " + p
          + b"\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        H("h1_lowercase_method", base, TOKEN_A, method=b"get", proto="h1"),
        H("h1_method_with_xff", base, TOKEN_A, method=b"GE\xff", proto="h1"),
        # A tab ends the request-target as a space does: the filter (and the upstream) get the
        # target up to it.
        H("h1_tab_after_target", base, TOKEN_A, proto="h1",
          h1=b"GET " + base + b"\t HTTP/1.1\r\nHost: x\r\nAuthorization: Token " + p + b"\r\n\r\n"),
        H("h1_tab_in_query", base + b"?q=", TOKEN_A, proto="h1",
          h1=b"GET " + base + b"?q=\t HTTP/1.1\r\nHost: x\r\nAuthorization: Token " + p + b"\r\n\r\n"),
        H("h1_tab_inside_target", b"/api/v2/accounts/" + b(A) + b"/jo\tbs/", TOKEN_A, proto="h1"),
        H("h1_space_in_path", base, TOKEN_A, proto="h1",
          h1=b"GET /api/v2/accounts/" + b(A) + b"/jo bs/ HTTP/1.1\r\nHost: x\r\nAuthorization: Token " + p + b"\r\n\r\n"),
        H("h1_options_asterisk", b"*", TOKEN_A, method=b"OPTIONS", proto="h1"),
        H("h1_no_leading_slash", b"api/v2/accounts/" + b(A) + b"/jobs/", TOKEN_A, proto="h1"),
        H("h1_connect", b"ab123.us1.dbt.com:443", TOKEN_A, method=b"CONNECT", authority=b"ab123.us1.dbt.com:443", proto="h1"),
    ]
    pseudo = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b(HOST)), (b":path", base)]
    h2 = [
        H("h2_uppercase_name", base, TOKEN_A, proto="h2", h2=tuple(pseudo + [(b"Authorization", b"Token " + p)])),
        H("h2_authority_and_host_disagree", base, TOKEN_A, authority=b"ab123.us1.dbt.com", proto="h2",
          h2=tuple([(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"ab123.us1.dbt.com"), (b":path", base),
                    (b"host", b"cd456.us1.dbt.com"), (b"authorization", b"Token " + p)])),
        H("h2_host_without_authority", base, TOKEN_A, authority=b"cd456.us1.dbt.com", proto="h2",
          h2=tuple([(b":method", b"GET"), (b":scheme", b"http"), (b":path", base), (b"host", b"cd456.us1.dbt.com"),
                    (b"authorization", b"Token " + p)])),
        H("h2_no_authority_no_host", base, TOKEN_A, authority=None, proto="h2",
          h2=tuple([(b":method", b"GET"), (b":scheme", b"http"), (b":path", base), (b"authorization", b"Token " + p)])),
        H("h2_two_paths", base, TOKEN_A, proto="h2", h2=tuple(pseudo + [(b":path", b"/health"), (b"authorization", b"Token " + p)])),
        H("h2_pseudo_after_regular", base, TOKEN_A, proto="h2",
          h2=tuple(pseudo[:3] + [(b"authorization", b"Token " + p), (b":path", base)])),
        H("h2_empty_path", b"", TOKEN_A, proto="h2", h2=tuple(pseudo[:3] + [(b":path", b""), (b"authorization", b"Token " + p)])),
        H("h2_asterisk_path", b"*", TOKEN_A, proto="h2", h2=tuple(pseudo[:3] + [(b":path", b"*"), (b"authorization", b"Token " + p)])),
        H("h2_unknown_pseudo", base, TOKEN_A, proto="h2", h2=tuple(pseudo + [(b":token", p), (b"authorization", b"Token " + p)])),
        H("h2_connection_header", base, TOKEN_A, proto="h2", h2=tuple(pseudo + [(b"connection", b"close"), (b"authorization", b"Token " + p)])),
        H("h2_te_gzip", base, TOKEN_A, proto="h2", h2=tuple(pseudo + [(b"te", b"gzip"), (b"authorization", b"Token " + p)])),
        H("h2_space_in_name", base, TOKEN_A, proto="h2", h2=tuple(pseudo + [(b"authorization ", b"Token " + p)])),
        H("h2_empty_name", base, TOKEN_A, proto="h2", h2=tuple(pseudo + [(b"", b"x"), (b"authorization", b"Token " + p)])),
        H("h2_token_in_cookie", base, (), proto="h2", h2=tuple(pseudo + [(b"cookie", b"token=" + p)])),
        H("h2_split_cookie_auth", base, TOKEN_A, proto="h2",
          h2=tuple(pseudo + [(b"cookie", b"a=1"), (b"authorization", b"Token " + p), (b"cookie", b"b=2")])),
        H("h2_leading_space_value", base, TOKEN_A, proto="h2", h2=tuple(pseudo + [(b"authorization", b" Token " + p + b" ")])),
        H("h2_300_headers", base, TOKEN_A, proto="h2",
          h2=tuple(pseudo + [(b"x-f-%d" % i, b"v") for i in range(300)] + [(b"authorization", b"Token " + p)])),
    ]
    return [H(**{**c.__dict__, "group": "wire forms of one protocol"}) for c in h1 + h2]


def all_cases() -> list:
    cases = (oversized_auth() + repeated_auth() + bytes_in_headers() + bytes_in_path() + near_miss_tokens()
             + ambiguous_paths() + long_targets() + query_tokens() + wire_oddities())
    ids = [c.id for c in cases]
    dup = [i for i, n in Counter(ids).items() if n > 1]
    assert not dup, dup
    return cases


CASES = all_cases()
SECRET_TOKENS = list(pk.ALL_TOKENS) + [
    v.decode("latin-1").split(" ", 1)[-1] for c in CASES if c.group == "tokens one character off" for _, v in c.headers
]


# ---- running it --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def envoys(launch, front, upstream):
    out = {}
    for name, p in POLICIES.items():
        cfg = bootstrap([front.filter(pk.dumps(p))], upstream.port)
        # After a protocol error Envoy waits this long for the client to read its answer before
        # it closes (default 1 s): the client here reads it at once, and ~200 such requests
        # would otherwise take as many seconds.
        hcm_of(cfg)["delayed_close_timeout"] = "0.05s"
        out[name] = launch([], config=cfg)
    return out


@pytest.fixture(scope="module")
def oracle(cli_bin, tmp_path_factory):
    return Oracle(cli_bin, POLICIES, tmp_path_factory.mktemp("oracle"), NOW)


@pytest.fixture(scope="module")
def figures():
    figs: dict = {}
    yield figs
    record_figures("hostile", figs)


def send(envoy, c: H, proto: str):
    if proto == "h1":
        return raw_http1(envoy.port, c.wire_h1())[0]
    with H2Client(envoy.port) as h2:
        return h2.request(c.wire_h2())


def decide(oracle, c: H) -> dict:
    """The core's decision for the request as the filter receives it (see as_envoy_joins)."""
    return oracle.decide(c.policy, c.method, c.target, c.authority, as_envoy_joins(c.headers))


def refusal_label(o) -> str:
    """The status, or how the connection or stream ended without one."""
    if o.status is not None:
        return str(o.status)
    for prefix, label in (("stream reset", "stream reset"), ("goaway", "GOAWAY"), ("reset", "connection reset"),
                          ("send", "connection reset")):
        if o.detail.startswith(prefix):
            return label
    return "connection closed"


def still_serving(envoy) -> bool:
    wire = (f"GET {BASE} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Token {pk.PAT_A}\r\n\r\n").encode()
    ok1 = raw_http1(envoy.port, wire)[0].status == 200
    with H2Client(envoy.port) as h2:
        ok2 = h2.request(H("ok", b(BASE), TOKEN_A).wire_h2()).status == 200
    return ok1 and ok2


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_hostile_table(envoys, oracle, figures, proto):
    cases = [c for c in CASES if c.proto in (proto, "both")]
    before = {n: (filter_counters(e), vm_snapshot(e), hcm_stats(e), len(e.log())) for n, e in envoys.items()}
    scanner = LeakScanner(SECRET_TOKENS)
    mismatches, who, statuses, by_group = [], Counter(), Counter(), Counter()
    decisions = {n: [] for n in envoys}
    envoy_refusals = Counter()
    # Four at a time, each on its own connection (the waits for Envoy's closes overlap).
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda c: send(envoys[c.policy], c, proto), cases))
    for c, r in zip(cases, answers):
        d = decide(oracle, c)
        o = classify(r)
        who[o.who] += 1
        statuses[refusal_label(o)] += 1
        by_group[c.group] += 1
        scanner.scan_response(c.id, r)
        bad = check_against(r, d)
        if bad:
            mismatches.append((c.id, bad))
        if o.who in ("filter", "upstream"):
            decisions[c.policy].append(d)
        else:
            envoy_refusals[refusal_label(o)] += 1

    problems = []
    for n, e in envoys.items():
        counters0, vm0, hcm0, log_at = before[n]
        moved = counter_delta(counters0, filter_counters(e))
        want = expected_counters(decisions[n])
        if moved != want:
            problems.append(f"{n}: counters moved {dict(moved)}, the decisions seen say {dict(want)}")
        log = e.log()[log_at:]
        problems += [f"{n}: {p}" for p in vm_problems(vm0, vm_snapshot(e), log)]
        rq5 = hcm_stats(e).get("downstream_rq_5xx", 0) - hcm0.get("downstream_rq_5xx", 0)
        if rq5:
            problems.append(f"{n}: downstream_rq_5xx rose by {rq5}")
        scanner.scan_log(log)
        if not still_serving(e):
            problems.append(f"{n}: a valid request no longer passes")

    figures[proto] = {
        "inputs": len(cases), "requests": len(cases), "answered_by": dict(who), "statuses": dict(statuses),
        "groups": dict(by_group), "envoy_refusals": dict(envoy_refusals), "mismatches": len(mismatches),
        "vm_problems": len(problems), "panics": sum(": log: " in p for p in problems), "leaks": len(scanner.leaks), "scanned": scanner.scanned, "cli_decisions": oracle.calls,
    }
    assert not mismatches and not problems, (
        "\n".join(f"{i}: {b}" for i, b in mismatches[:40]) + f"\n({len(mismatches)} mismatches)\n" + "\n".join(problems))
    assert not scanner.leaks, scanner.leaks[:20]
    # The filter decided most of them: the table is not just Envoy's codec saying no.
    assert who["filter"] + who["upstream"] > len(cases) // 2, who


def test_pipelined_requests_get_their_own_answers(envoys, oracle, figures):
    """Requests in one write on one connection, denials and allowed ones mixed: each answer must
    be its own request's (a denial must not spill onto the next, nor an allowed one's identity).
    Envoy 1.40 answers a pipelined local reply (any: a direct_response without the filter does
    the same) and then closes the connection unless that request came first in the pipeline, so
    denials go first or last here. The same pipelines on an Envoy without the filter behave alike."""
    e = envoys["main"]
    deny_account = H("p_account", b(f"/api/v2/accounts/{B}/jobs/"), TOKEN_A)
    deny_format = H("p_format", b(BASE), auth("Token " + pk.PAT_A[:-1] + "!"))
    deny_path = H("p_path", b(BASE + "%2e%2e/"), TOKEN_A)
    deny_two = H("p_two", b(BASE), TOKEN_A + TOKEN_A)
    ok = H("p_ok", b(BASE), TOKEN_A)
    ok_b = H("p_ok_b", b(f"/api/v3/accounts/{B}/projects/"), auth("Token " + pk.PAT_B))
    public = H("p_public", b"/health", ())
    # Envoy also closes an HTTP/1.1 connection after any 400 it sends (a direct_response 400 as
    # well): 400s go last.
    pipelines = [
        [deny_account, ok, ok_b, public, ok, deny_format],
        [deny_format, ok_b, ok, public, ok_b, deny_two],
        [deny_account, ok, ok, ok, ok_b, ok, deny_path],
        [ok, public, ok_b, ok, deny_account],
    ]
    n = 0
    for reqs in pipelines * 3:
        answers = raw_http1(e.port, b"".join(c.wire_h1() for c in reqs), responses=len(reqs))
        assert [a.error for a in answers] == [None] * len(reqs), [(c.id, a.status, a.error) for c, a in zip(reqs, answers)]
        for c, r in zip(reqs, answers):
            assert not check_against(r, decide(oracle, c)), (c.id, r.status, r.body[:200])
        n += len(reqs)
    # A denied POST whose body the client sends anyway: answered, then the next request on the
    # connection gets its own answer (or Envoy closes the connection instead of reading the body).
    body = b"x" * 100000
    post = (f"POST /api/v2/accounts/{A}/jobs/7/run/ HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Token {pk.PAT_A}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    answers = raw_http1(e.port, post + ok.wire_h1(), responses=2)
    assert answers[0].status == 403 and classify(answers[0]).code == "token_kind_not_allowed"
    if len(answers) > 1 and answers[1].status is not None:
        assert not check_against(answers[1], decide(oracle, ok))
    figures["pipelined"] = {"requests": n + 2}


def test_many_streams_on_one_http2_connection(envoys, oracle, figures):
    """Valid and hostile requests interleaved as streams of one HTTP/2 connection: the
    connection survives every denial and each stream gets its own decision."""
    e = envoys["main"]
    # Targets Envoy's HTTP/2 codec takes (printable ASCII, no fragment): the filter decides each.
    mix = [c for c in CASES if c.group in ("tokens one character off", "SPEC §5 ambiguous paths") and c.proto == "both"
           and all(0x21 <= x < 0x7f and x != 0x23 for x in c.target)][:150]
    ok = H("ok", b(BASE), TOKEN_A)
    bad, n = [], 0
    with H2Client(e.port) as h2:
        for c in mix:
            for x in (c, ok):
                r = h2.request(x.wire_h2())
                n += 1
                o = classify(r)
                if o.who == "envoy":
                    bad.append((x.id, "connection-level refusal", r.error))
                    break
                errs = check_against(r, decide(oracle, x))
                if errs:
                    bad.append((x.id, errs))
    figures["h2_one_connection"] = {"requests": n, "mismatches": len(bad)}
    assert not bad, bad[:10]


def test_the_leak_scanner_sees_a_leak(envoys):
    """The leak figures are measured: the same scanner finds the token where it is (the echo
    upstream reflects the request's Authorization) and in a log line that would carry it."""
    e = envoys["main"]
    r = raw_http1(e.port, H("x", b(BASE), TOKEN_A).wire_h1())[0]
    s = LeakScanner(SECRET_TOKENS)
    s.scan("echo body", r.body)
    s.scan_log(f"[debug][wasm] denied 401 invalid_token token={pk.PAT_A}\n")
    s.scan_log(f"digest {pk.sha256_hex(pk.SVC_A)}\n")
    s.scan_response("clean", r)
    assert [w for w, _ in s.leaks] == ["echo body", "envoy log", "envoy log"], s.leaks
