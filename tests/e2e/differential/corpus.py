"""The differential corpus: request variants that a lenient server could read differently from the
edge — ids, format suffixes, encodings, methods, hosts and identity-header spellings.

Generated, deterministic, no randomness: the same list every run, so a mismatch is reproducible by
its id. Each variant carries the class of SPEC §5/§6 reading it probes (`cls`); the test reports
mismatches per class. `python3 tests/e2e/differential/corpus.py fuzz/seeds/differential` rewrites
the `differential` fuzz target's seeds from it (test_differential checks they are current).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

A = "70471823510118"  # account of pat_spice and service_spice (host prefix ab123)
G = "9007199254740993"  # account of pat_guild (host prefix gn456); past 2^53
HOST_A, HOST_G = "ab123.us1.dbt.com", "gn456.us1.dbt.com"

# Every class of reading the suite probes. `baseline` requests are plain ones that must be allowed
# (so the checks below run on something); the others are the variants.
CLASSES = (
    "baseline",
    "lenient-number",
    "leading-zeros",
    "overflow",
    "format-suffix",
    "encoding",
    "method-case",
    "host",
    "forwarded-host",
    "identity-header",
)


@dataclass(frozen=True)
class Variant:
    cls: str
    id: str
    method: str
    target: str  # the request-target as sent: ASCII, percent-encoded where it says so
    token: str | None  # a fixture token's name (tests/fixtures/tokens.json), or none
    headers: tuple = ()  # extra (name, value) pairs; a ("Host", …) pair replaces the default Host
    host: str = "api.us1.dbt.com"  # the Host sent unless `headers` carries its own
    # HTTP/1.1 or HTTP/2 (h2c): Envoy's codecs refuse different things (a lower-case method is a
    # 400 in HTTP/1.1 and goes through in HTTP/2), so every variant is sent both ways.
    proto: str = "h1"

    def all_headers(self, tokens: dict) -> list:
        out = [] if any(k.lower() == "host" for k, _ in self.headers) else [("Host", self.host)]
        if self.token and tokens:
            scheme = "Bearer" if self.token == "oauth" else "Token"
            out.append(("Authorization", f"{scheme} {tokens[self.token]}"))
        out.extend(self.headers)
        return out


def pct(s: str) -> str:
    """UTF-8 percent-encoding of every non-ASCII character (what a client library sends)."""
    return "".join(c if ord(c) < 0x80 else "".join(f"%{b:02X}" for b in c.encode()) for c in s)


def digits_in(zero: int, n: str) -> str:
    """`n` written with the decimal digits of the Unicode block whose zero is `zero`."""
    return "".join(chr(zero + int(d)) for d in n)


def id_forms(n: str) -> list:
    """(class, name, path segment) for account id `n`: every spelling Python's `int()` (or a DRF
    router's `[^/.]+` lookup with `int()`, or `\\d+` after percent-decoding) may read as `n`."""
    grouped = f"{n[:4]}_{n[4:8]}_{n[8:]}"
    return [
        ("baseline", "plain", n),
        ("leading-zeros", "zeros", "00" + n),
        ("lenient-number", "plus", "+" + n),
        ("lenient-number", "minus", "-" + n),
        ("lenient-number", "plus-zeros", "+00" + n),
        ("lenient-number", "underscores", grouped),
        ("lenient-number", "underscore-each", "_".join(n)),
        ("lenient-number", "space-before", "%20" + n),
        ("lenient-number", "space-after", n + "%20"),
        ("lenient-number", "tab", "%09" + n),
        ("lenient-number", "vtab-ff", "%0B%0C" + n),
        ("lenient-number", "file-sep", "%1C" + n),
        ("lenient-number", "nbsp", pct("\u00a0") + n),
        ("lenient-number", "nel", pct("\u0085") + n),
        ("lenient-number", "em-space", pct("\u2003") + n),
        ("lenient-number", "ideographic-space", pct("\u3000") + n),
        ("lenient-number", "fullwidth", pct(digits_in(0xFF10, n))),
        ("lenient-number", "fullwidth-lower-hex", pct(digits_in(0xFF10, n)).lower()),
        ("lenient-number", "arabic-indic", pct(digits_in(0x0660, n))),
        ("lenient-number", "devanagari", pct(digits_in(0x0966, n))),
        ("lenient-number", "mixed-fullwidth", pct(digits_in(0xFF10, n[:1])) + n[1:]),
        ("lenient-number", "encoded-plus", "%2B" + n),
        ("lenient-number", "plus-space", "%20%2B" + n),
        ("encoding", "encoded-digit", "%3" + n[0] + n[1:]),
        ("encoding", "encoded-underscore", n[:4] + "%5F" + n[4:]),
        ("lenient-number", "raw-plus-fullwidth", "+" + pct(digits_in(0xFF10, n))),
        ("overflow", "u64-plus-one", "18446744073709551616"),
        ("overflow", "long", n + "0" * 12),
        ("overflow", "fullwidth-long", pct(digits_in(0xFF10, n + "0" * 12))),
    ]


# Where an account id goes: (name, method, template, token for the caller's own account).
ENDPOINTS = [
    ("v2-account-detail", "GET", "/api/v2/accounts/{a}/"),
    ("job-list", "GET", "/api/v2/accounts/{a}/jobs/"),
    ("job-run", "POST", "/api/v2/accounts/{a}/jobs/42/run/"),
    ("user-list", "GET", "/api/v2/accounts/{a}/users/"),
    ("run-list", "GET", "/api/v2/accounts/{a}/runs/"),
    ("run-artifact", "GET", "/api/v2/accounts/{a}/runs/7/artifacts/manifest"),
    ("project-detail", "PATCH", "/api/v3/accounts/{a}/projects/3/"),
    ("v3-account-detail", "GET", "/api/v3/accounts/{a}/"),
]


def _ids() -> list:
    out = []
    for ep, method, tpl in ENDPOINTS:
        # The PAT of account A: its own account in every spelling (must stay bound to A), and the
        # other account G in every spelling (must be refused or bound to G, and so denied).
        for acct, who in ((A, "own"), (G, "other")):
            for cls, form, seg in id_forms(acct):
                out.append(Variant(cls, f"{ep}/{who}/{form}", method, tpl.format(a=seg), "pat_spice"))
        if ep == "job-run":  # the service token the route takes, and the id spellings on it
            for cls, form, seg in id_forms(G):
                out.append(Variant(cls, f"{ep}/service-other/{form}", method, tpl.format(a=seg), "service_spice"))
            out.append(Variant("baseline", f"{ep}/service-own", method, tpl.format(a=A), "service_spice"))
    # The job id is an id too: a lenient spelling must not move the run to another job unseen.
    for form, seg in (("plus", "+42"), ("fullwidth", pct(digits_in(0xFF10, "42"))), ("underscore", "4_2")):
        out.append(Variant("lenient-number", f"job-run/job-id-{form}", "POST", f"/api/v2/accounts/{A}/jobs/{seg}/run/", "service_spice"))
    return out


def _suffixes() -> list:
    out = []
    plain = [
        ("v2-list", "GET", "/api/v2/accounts/", "pat_spice"),
        ("v3-list", "GET", "/api/v3/accounts/", "pat_spice"),
        ("v2-list-service", "GET", "/api/v2/accounts/", "service_spice"),
        ("v2-list-oauth", "GET", "/api/v2/accounts/", "oauth"),
        ("v2-detail-other", "GET", f"/api/v2/accounts/{G}/", "pat_spice"),
        ("v3-detail-other", "GET", f"/api/v3/accounts/{G}/", "pat_spice"),
        ("v2-detail-own", "GET", f"/api/v2/accounts/{A}/", "pat_spice"),
        ("jobs-other", "GET", f"/api/v2/accounts/{G}/jobs/", "pat_spice"),
        ("run-pat", "POST", f"/api/v2/accounts/{A}/jobs/42/run/", "pat_spice"),
        ("run-service", "POST", f"/api/v2/accounts/{A}/jobs/42/run/", "service_spice"),
        ("job-detail-other", "GET", f"/api/v2/accounts/{G}/jobs/42/", "pat_spice"),
        ("users-other", "GET", f"/api/v2/accounts/{G}/users/", "pat_spice"),
        ("runs-other", "GET", f"/api/v2/accounts/{G}/runs/", "pat_spice"),
        ("run-detail-other", "GET", f"/api/v2/accounts/{G}/runs/7/", "pat_spice"),
        ("artifact-own", "GET", f"/api/v2/accounts/{A}/runs/7/artifacts/manifest", "pat_spice"),
        ("projects-other", "POST", f"/api/v3/accounts/{G}/projects/", "pat_spice"),
        ("projects-own", "POST", f"/api/v3/accounts/{A}/projects/", "pat_spice"),
        ("project-own", "PATCH", f"/api/v3/accounts/{A}/projects/3/", "pat_spice"),
        ("graphql", "POST", "/api/graphql", "pat_spice"),
        ("health-no-token", "GET", "/health", None),
    ]
    for name, method, path, token in plain:
        stem = path.rstrip("/")
        forms = [
            ("as-is", path),
            ("json", stem + ".json"),
            ("api", stem + ".api"),
            ("json-slash", stem + ".json/"),
            ("xml", stem + ".xml"),
            ("upper-JSON", stem + ".JSON"),
            ("query-format", path + "?format=json"),
            ("json-query", stem + ".json?format=api"),
        ]
        for form, target in forms:
            cls = "baseline" if form == "as-is" else "format-suffix"
            out.append(Variant(cls, f"{name}/{form}", method, target, token))
    return out


def _methods() -> list:
    out = []
    cases = [
        ("run-pat", f"/api/v2/accounts/{A}/jobs/42/run/", "pat_spice", ("post", "Post", "pOsT", "POST", "GET", "HEAD", "OPTIONS")),
        ("run-service", f"/api/v2/accounts/{A}/jobs/42/run/", "service_spice", ("post", "Post")),
        ("run-pat-json", f"/api/v2/accounts/{A}/jobs/42/run.json", "pat_spice", ("post",)),
        ("project-other", f"/api/v3/accounts/{G}/projects/3/", "pat_spice", ("patch", "Patch", "delete", "get")),
        ("projects-own", f"/api/v3/accounts/{A}/projects/", "pat_spice", ("post", "get")),
        ("list-retired", "/api/v2/accounts/", "pat_spice", ("get", "Get", "head")),
    ]
    for name, path, token, methods in cases:
        for m in methods:
            out.append(Variant("method-case", f"{name}/{m}", m, path, token))
    # Method overrides that some frameworks honour (Django and DRF do not).
    out.append(Variant("method-case", "run-pat/override-header", "GET", f"/api/v2/accounts/{A}/jobs/42/run/", "pat_spice",
                       (("X-HTTP-Method-Override", "POST"),)))
    return out


def _hosts() -> list:
    out = []
    paths = [("jobs-own", "GET", f"/api/v2/accounts/{A}/jobs/"), ("graphql", "POST", "/api/graphql"),
             ("v2-list", "GET", "/api/v2/accounts/")]
    hosts = [
        ("own", HOST_A), ("other", HOST_G), ("other-upper", HOST_G.upper()), ("other-port", HOST_G + ":443"),
        ("other-dot-first", "." + HOST_G), ("other-dots-first", ".." + HOST_G), ("other-trailing-dot", HOST_G + "."),
        ("other-bare-label", "gn456"), ("other-metadata", "gn456.metadata.us1.dbt.com"),
        ("other-userinfo", f"{HOST_A}@{HOST_G}"), ("other-empty-port", HOST_G + ":"),
        ("none", "cloud.getdbt.com"), ("ipv6", "[::1]:8080"),
    ]
    for pname, method, path in paths:
        for token in ("pat_spice", "pat_guild"):
            for hname, host in hosts:
                cls = "baseline" if hname in ("own", "none") else "host"
                out.append(Variant(cls, f"{pname}/{token}/{hname}", method, path, token, host=host))
            for order, hs in (("own-then-other", (HOST_A, HOST_G)), ("other-then-own", (HOST_G, HOST_A)),
                              ("own-twice", (HOST_A, HOST_A))):
                out.append(Variant("host", f"{pname}/{token}/two-hosts-{order}", method, path, token,
                                   tuple(("Host", h) for h in hs)))
            fwd = [
                ("xfh-other", (("X-Forwarded-Host", HOST_G),)),
                ("xfh-own", (("X-Forwarded-Host", HOST_A),)),
                ("xfh-upper-name", (("X-FORWARDED-HOST", HOST_G),)),
                ("xfh-underscores", (("x_forwarded_host", HOST_G),)),
                ("xfh-twice", (("X-Forwarded-Host", HOST_A), ("X-Forwarded-Host", HOST_G))),
                ("xfh-list", (("X-Forwarded-Host", f"{HOST_G}, {HOST_A}"),)),
                ("forwarded-host", (("Forwarded", f"host={HOST_G}"),)),
                ("forwarded-host-quoted", (("Forwarded", f'for=1.2.3.4;host="{HOST_G}";proto=https'),)),
                ("forwarded-upper", (("FORWARDED", f"Host={HOST_G}"),)),
            ]
            for fname, hdrs in fwd:
                out.append(Variant("forwarded-host", f"{pname}/{token}/{fname}", method, path, token, hdrs, host=HOST_A))
    return out


IDENTITY_SPELLINGS = {
    "account": ("X-Dbt-Account-Id", "x-dbt-account-id", "X-DBT-ACCOUNT-ID", "x_dbt_account_id", "X_DBT_ACCOUNT_ID",
                "x-dbt_account-id", "x_dbt-account_id", "X-dbt-Account_ID"),
    "kind": ("x-dbt-token-kind", "x_dbt_token_kind", "X_Dbt_Token_Kind"),
    "token-id": ("x-dbt-token-id", "x_dbt_token_id", "x-dbt-token_id"),
    "would-deny": ("x-tokengate-would-deny", "x_tokengate_would_deny"),
}
FORGED = {"account": G, "kind": "service", "token-id": "forged-token", "would-deny": "forged"}


def _identity() -> list:
    out = []
    targets = [("jobs-own", "GET", f"/api/v2/accounts/{A}/jobs/", "pat_spice"),
               ("run-service", "POST", f"/api/v2/accounts/{A}/jobs/42/run/", "service_spice"),
               ("graphql-oauth", "POST", "/api/graphql", "oauth"),
               ("health-no-token", "GET", "/health", None)]
    for tname, method, path, token in targets:
        for what, names in IDENTITY_SPELLINGS.items():
            for name in names:
                out.append(Variant("identity-header", f"{tname}/{what}/{name}", method, path, token,
                                   ((name, FORGED[what]),)))
        # Every spelling at once, and one header twice.
        every = tuple((n, FORGED[w]) for w, ns in IDENTITY_SPELLINGS.items() for n in ns)
        out.append(Variant("identity-header", f"{tname}/all-spellings", method, path, token, every))
        out.append(Variant("identity-header", f"{tname}/twice", method, path, token,
                           (("x-dbt-account-id", G), ("x-dbt-account-id", G))))
    return out


def variants() -> list:
    base = _ids() + _suffixes() + _methods() + _hosts() + _identity()
    out = [replace(v, id=f"{proto}:{v.id}", proto=proto) for proto in ("h1", "h2") for v in base]
    ids = [v.id for v in out]
    assert len(ids) == len(set(ids)), "variant ids must be unique"
    assert {v.cls for v in out} <= set(CLASSES)
    return out


def seed_text(v: Variant) -> bytes:
    """The variant in the fuzz targets' text form (fuzz/src/lib.rs, `TextRequest`): the request
    line and its hosts, which is all the path and host readers take (no token: none is needed)."""
    lines = [f"{v.method} {v.target}"]
    lines += [f"host: {val}" for k, val in v.all_headers({}) if k.lower() == "host"]
    return ("#!tokengate\n" + "\n".join(lines) + "\n").encode()


def seeds() -> dict:
    """{file name: seed} for the `differential` fuzz target: one per distinct target and hosts."""
    out, seen = {}, set()
    for v in variants():
        text = seed_text(v)
        body = text.split(b"\n", 2)[1:]  # the method does not matter to the readers
        key = b"\n".join(body).split(b" ", 1)[-1]
        if key in seen:
            continue
        seen.add(key)
        out[v.id.split(":", 1)[1].replace("/", "--")] = text
    return out


if __name__ == "__main__":
    dest = Path(sys.argv[1])
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.iterdir():
        old.unlink()
    for name, text in seeds().items():
        (dest / name).write_bytes(text)
    print(f"{len(seeds())} seeds in {dest}")
