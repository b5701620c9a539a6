"""What never leaves the Jupyter server: credentials are masked before the model or panel sees them.

Tools apply these rules when they read objects, and the engine runs :func:`redact_text` once more
on every tool result, so a leak needs two mistakes. What is masked:

* **Secrets**: the values of ``data`` and ``stringData`` are never decoded into objects that are
  kept; only key names, types and sizes are shown (``list_secrets``).
* **Environment variables** whose *name* looks like a credential (contains PASSWORD, PASSWD,
  PASSPHRASE, SECRET, TOKEN, API_KEY / APIKEY, ACCESS_KEY, PRIVATE_KEY, CREDENTIAL, AUTH,
  SESSION_KEY, SIGNING_KEY, ENCRYPTION_KEY, CLIENT_KEY, DSN, CONNECTION_STRING, ...): the value
  becomes ``***``. ``valueFrom.secretKeyRef`` / ``configMapKeyRef`` are shown as a reference
  (secret name and key) only. Other values still pass through :func:`redact_text`.
* **Credentials inside any text** (env values, args, annotations, logs, event messages):
  - URLs with user info: ``postgres://user:pass@host`` -> ``postgres://user:***@host``;
  - ``key=value`` / ``key: value`` / ``"key": "value"`` pairs whose key contains password,
    passwd, pwd, secret, token, api_key / apikey, access_key, private_key, credential(s),
    auth, client_secret, session, cookie: the value becomes ``***`` (except where a registry's
    error sentence goes on after ``authorization:``, ``authorize:`` or ``token:``, as in
    containerd's "may require authorization: server message: insufficient_scope", and where
    the key's last word only names or describes a credential, ``secretName``, ``tokenPath``:
    :func:`is_reference_key`);
  - ``Authorization: Bearer|Basic|Token ...`` headers and any ``Bearer <token>``;
  - JWT-looking tokens (``eyJ...``.``...``.``...``);
  - AWS access key ids (``AKIA``/``ASIA`` + 16 characters), GitHub (``ghp_``, ``gho_``,
    ``ghs_``, ``ghu_``, ``github_pat_``), Slack (``xox?-``), Stripe (``sk_live_``, ``rk_live_``...),
    OpenAI-style (``sk-...``), Google (``AIza...``) and Hugging Face (``hf_...``) tokens;
  - PEM private key blocks (``-----BEGIN ... PRIVATE KEY-----`` to its END line, or to the end
    of the text when cut).
* **Annotations**: ``kubectl.kubernetes.io/last-applied-configuration`` (a full copy of the
  object as last applied, often with inline credentials) is replaced by a short note; other
  annotation values pass through :func:`redact_text`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
LAST_APPLIED_NOTE = "(omitted: the last-applied configuration may hold credentials)"

_NAME_WORDS = (
    r"PASSWORD|PASSWD|PASSPHRASE|PASSWORT|PWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|"
    r"CREDENTIAL|AUTH|SESSION_?KEY|SIGNING_?KEY|ENCRYPTION_?KEY|CLIENT_?KEY|MASTER_?KEY|"
    r"ACCOUNT_?KEY|DSN|CONNECTION_?STRING|CONN_?STR|COOKIE|SALT|PRIVATE"
)
_SENSITIVE_NAME = re.compile(rf"(?:{_NAME_WORDS})", re.IGNORECASE)

_PEM = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)"
)
_URL_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]{0,30}://[^/\s:@'\"]{1,256}):([^@\s/'\"]+)@")
_AUTH_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:bearer|basic|token|digest|negotiate)\s*|(?![a-z]+ [a-z]+)))"
    r"(?!\*\*\*|(?:bearer|basic|token|digest|negotiate)\b)[^\s\"',;]+"
)
"""A header value is one token; "authorization: server message: ..." (containerd's pull error)
is prose: a bare word followed by another word is left alone unless a scheme precedes it."""
_BEARER = re.compile(r"(?i)\b(bearer\s+)(?!\*\*\*)[A-Za-z0-9\-._~+/]+=*")
_PAIR_SOURCE = (
    r"((?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key|credential|auth|client[_-]?secret|session[_-]?id|cookie)[\w-]*"
    r"\\?[\"']?\s*[:=]\s*)"
    r"(?!\*\*\*|(?:bearer|basic|token|digest)\s)"
    r"(\\\"(?:[^\"\\]|\\[^\"])*\\\"|\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s\"',;&{}\[\]\\]+)"
)
_PAIR_LOWER = re.compile(_PAIR_SOURCE)
"""Run on the lower-cased text: case-sensitive matching is ~10x faster than ``re.I``."""
_PAIR_ANY_CASE = re.compile(_PAIR_SOURCE, re.IGNORECASE)
_PROSE_AFTER = re.compile(r"[a-z]+ [a-z]")
"""After ``authorization:``, a lower-case word and another word is a sentence, not a credential:
containerd's "may require authorization: server message: insufficient_scope: ..." and
"failed to authorize: failed to fetch anonymous token: unexpected status: 401" stay."""
PROSE_KEYS = frozenset({"authorization", "authorize", "token"})
"""Bare words that registries' error sentences put before a colon (never ``AUTH_TOKEN:``)."""
_REFERENCE_WORDS = "name|namespace|ref|kind|path|file|type"
_REFERENCE_KEY = re.compile(
    rf"(?:[_.-](?i:{_REFERENCE_WORDS})|(?<=[a-z0-9])(?:{_REFERENCE_WORDS.title()}))"
    r"(?:\\?[\"']?\s*[:=]\s*)?$"
)
"""A key that names or describes a credential rather than holding one (``secretName: shop-tls``,
an Ingress's TLS or a Certificate's target, ``tokenSecretRef=...``, ``tokenPath``,
``PASSWORD_FILE``, ``secretType``): its value is a name, path or kind and stays readable. The
last word must be one of these on its own (after ``_``, ``-``, ``.`` or a camel-case hump), so a
key that merely ends in those letters (``auth_profile``, ``tokenname``) still has its value
masked, as do a credential's version or mode. It matches a bare key (``secretName``) and a key
with its separator (``secretName: ``)."""
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_VENDOR_TOKENS = re.compile(
    r"\b(?:"
    r"(?:AKIA|ASIA|AIDA|AROA)[0-9A-Z]{16}"
    r"|gh[opsur]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{30,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|hf_[A-Za-z0-9]{20,}"
    r"|glpat-[A-Za-z0-9_-]{20,}"
    r")"
)
_VENDOR_HINTS = (
    "akia",
    "asia",
    "aida",
    "aroa",
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "ghr_",
    "github_pat_",
    "xox",
    "_live_",
    "_test_",
    "sk-",
    "aiza",
    "hf_",
    "glpat-",
)
_PAIR_HINTS = (
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "credential",
    "auth",
    "session",
    "cookie",
)


_NAME_LIKE = re.compile(r"[a-z0-9.\-\x00]*")
"""Text made of what Kubernetes names are made of (and table.py's cell separator): without
upper case, ``_``, ``:``, ``=``, ``/``, quotes or spaces, only the lower-case vendor tokens
below can match, so one scan decides (10,000 object names at once)."""
_NAME_LIKE_HINTS = ("xox", "sk-", "glpat-")


def is_sensitive_name(name: str) -> bool:
    """Whether an env var / key name looks like it holds a credential (its value is masked)."""
    return _SENSITIVE_NAME.search(name) is not None


def is_reference_key(key: str) -> bool:
    """Whether a credential-looking key only names or describes one (see :data:`_REFERENCE_KEY`)."""
    return _REFERENCE_KEY.search(key) is not None


def _pem(match: re.Match[str]) -> str:
    kind = match.group(1)
    return f"-----BEGIN {kind}PRIVATE KEY-----{MASK}-----END {kind}PRIVATE KEY-----"


def _masked(value: str) -> str:
    if value[:2] == '\\"':
        return f'\\"{MASK}\\"'
    if value[0] in "\"'":
        return f"{value[0]}{MASK}{value[0]}"
    return MASK


def _is_prose(text: str, key: str, value_start: int) -> bool:
    """Whether a ``token:``-like pair is a sentence going on (see :data:`_PROSE_AFTER`), or its
    key only names or describes one (:func:`is_reference_key`): either way its value is not a
    credential."""
    if is_reference_key(key):
        return True
    word, _, _ = key.partition(":")
    return word.strip().lower() in PROSE_KEYS and _PROSE_AFTER.match(text, value_start) is not None


def _mask_pairs(text: str) -> str:
    """Mask the values of credential-looking ``key=value`` / ``key: value`` pairs."""
    low = text.lower()
    if len(low) != len(text):
        return _PAIR_ANY_CASE.sub(
            lambda m: (
                m.group(0)
                if _is_prose(text, m.group(1), m.start(2))
                else m.group(1) + _masked(m.group(2))
            ),
            text,
        )
    parts: list[str] = []
    last = 0
    for match in _PAIR_LOWER.finditer(low):
        start, end = match.span(2)
        if _is_prose(text, text[match.start(1) : match.end(1)], start):
            continue
        parts.append(text[last:start])
        parts.append(_masked(text[start:end]))
        last = end
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


def redact_text(text: str) -> str:
    """``text`` with every credential pattern masked (see the module docstring).

    Fast on clean text: text shaped like object names needs one scan; otherwise plain
    substring checks on the lower-cased text decide which masking passes run at all.
    """
    if not text:
        return text
    if _NAME_LIKE.fullmatch(text) and not any(hint in text for hint in _NAME_LIKE_HINTS):
        return text
    low = text.lower()
    if "private key-----" in low:
        text = _PEM.sub(_pem, text)
    if "://" in text:
        text = _URL_USERINFO.sub(rf"\1:{MASK}@", text)
    if "authoriz" in low:
        text = _AUTH_HEADER.sub(rf"\1{MASK}", text)
    if "bearer" in low:
        text = _BEARER.sub(rf"\1{MASK}", text)
    if "eyJ" in text:
        text = _JWT.sub(MASK, text)
    if any(hint in low for hint in _VENDOR_HINTS):
        text = _VENDOR_TOKENS.sub(MASK, text)
    if any(hint in low for hint in _PAIR_HINTS):
        text = _mask_pairs(text)
    return text


def redact_value(value: Any) -> Any:
    """Any JSON-like value with :func:`redact_text` applied to every string inside it."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def env_display(entry: Mapping[str, Any]) -> str:
    """One container env entry as ``NAME=value`` text, with credentials masked.

    Secret references show where the value comes from, never the value; the wording avoids a
    ``=`` or ``:`` after credential-looking names so the text rules never garble it.
    """
    name = str(entry.get("name", ""))
    source = entry.get("valueFrom")
    if isinstance(source, Mapping):
        if isinstance(ref := source.get("secretKeyRef"), Mapping):
            return f"{name} (from secret {ref.get('name', '?')}, key {ref.get('key', '?')})"
        if isinstance(ref := source.get("configMapKeyRef"), Mapping):
            return f"{name} (from configmap {ref.get('name', '?')}, key {ref.get('key', '?')})"
        if isinstance(ref := source.get("fieldRef"), Mapping):
            return f"{name} (from field {ref.get('fieldPath', '?')})"
        if isinstance(ref := source.get("resourceFieldRef"), Mapping):
            return f"{name} (from resource {ref.get('resource', '?')})"
        return f"{name} (from another source)"
    value = entry.get("value")
    if value is None:
        return f"{name} (empty)"
    if is_sensitive_name(name):
        return f"{name}={MASK}"
    return f"{name}={redact_text(str(value))}"


def redact_env(env: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Env entries as structured data with the same masking as :func:`env_display`."""
    out: list[dict[str, Any]] = []
    for entry in env:
        name = str(entry.get("name", ""))
        source = entry.get("valueFrom")
        if isinstance(source, Mapping):
            ref = source.get("secretKeyRef")
            if isinstance(ref, Mapping):
                out.append({"name": name, "secret": ref.get("name"), "key": ref.get("key")})
            else:
                out.append({"name": name, "from": redact_value(dict(source))})
        elif is_sensitive_name(name):
            out.append({"name": name, "value": MASK})
        else:
            out.append({"name": name, "value": redact_text(str(entry.get("value", "")))})
    return out


def clean_annotations(annotations: Mapping[str, str] | None) -> dict[str, str]:
    """Annotations safe to show: last-applied-configuration replaced, values redacted."""
    out: dict[str, str] = {}
    for key, value in (annotations or {}).items():
        if key == LAST_APPLIED:
            out[key] = LAST_APPLIED_NOTE
        elif is_sensitive_name(key.rsplit("/", 1)[-1]):
            out[key] = MASK
        else:
            out[key] = redact_text(str(value))
    return out
