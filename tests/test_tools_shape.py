"""Unit tests for redaction and result shaping (no cluster needed)."""

from __future__ import annotations

import random

import pytest

from jupyter_kchat.tools.redact import (
    LAST_APPLIED,
    clean_annotations,
    env_display,
    is_sensitive_name,
    redact_env,
    redact_text,
)
from jupyter_kchat.tools.shape import (
    Finding,
    Listing,
    Sampler,
    fit_findings,
    fit_listing,
    fit_tail,
    human_age,
    table,
)

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwYXltZW50cy1hcGkifQ."
    "q8Xw4vJ0bZ2nH1mR7cT5yL3kP9sD6fA0eG2hI4jK1lM"
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "DATABASE_URL=postgres://payments:S3cr3tP4ss@postgres.data:5432/payments",
            "DATABASE_URL=postgres://payments:***@postgres.data:5432/payments",
        ),
        ("connecting with password=hunter2-payments-db", "connecting with password=***"),
        (f"Authorization: Bearer {JWT}", "Authorization: Bearer ***"),
        (f"token {JWT} end", "token *** end"),
        ('{"password":"a b","user":"x"}', '{"password":"***","user":"x"}'),
        ("api_key: abc123 and secret=xyz", "api_key: *** and secret=***"),
        ("key AKIAIOSFODNN7EXAMPLE here", "key *** here"),
        ("stripe sk_live_51HxKchatSampleNotARealKey0000aBcDeF", "stripe ***"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEvQIBADAN\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----***-----END RSA PRIVATE KEY-----",
        ),
        (
            "-----BEGIN PRIVATE KEY-----\nMIIEvQ (cut)",
            "-----BEGIN PRIVATE KEY-----***-----END PRIVATE KEY-----",
        ),
        ("PGPASSWORD=abc psql -h db", "PGPASSWORD=*** psql -h db"),
    ],
)
def test_redact_text_masks_credentials(raw: str, expected: str) -> None:
    assert redact_text(raw) == expected
    assert redact_text(expected) == expected


@pytest.mark.parametrize(
    "clean",
    [
        "Back-off restarting failed container api in pod payments-api-x_payments(uid)",
        'secret "regcred" not found',
        'error="upstream auth.default: context deadline exceeded"',
        "STRIPE_API_KEY (from secret payments-stripe, key api-key)",
        "0/4 nodes are available: 1 Insufficient memory",
        "passwordless login enabled",
    ],
)
def test_redact_text_leaves_ordinary_text_alone(clean: str) -> None:
    assert redact_text(clean) == clean


def test_env_and_annotations() -> None:
    assert is_sensitive_name("DATABASE_PASSWORD") and is_sensitive_name("github_token")
    assert not is_sensitive_name("LOG_LEVEL")
    assert env_display({"name": "DATABASE_PASSWORD", "value": "hunter2"}) == "DATABASE_PASSWORD=***"
    assert env_display({"name": "LOG_LEVEL", "value": "debug"}) == "LOG_LEVEL=debug"
    ref = {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    assert env_display(ref) == "KEY (from secret s, key k)"
    assert redact_env([ref, {"name": "TOKEN", "value": "x"}]) == [
        {"name": "KEY", "secret": "s", "key": "k"},
        {"name": "TOKEN", "value": "***"},
    ]
    cleaned = clean_annotations({LAST_APPLIED: '{"password": "x"}', "team": "payments"})
    assert "x" not in cleaned[LAST_APPLIED] and cleaned["team"] == "payments"


def test_human_age_and_table() -> None:
    assert [human_age(s) for s in (5, 300, 7200, 3 * 86400, 800 * 86400)] == [
        "5s",
        "5m",
        "2h",
        "3d",
        "2y",
    ]
    assert table(("NAME", "STATUS"), [("a", "Running"), ("long-name", "Pending")]) == [
        "NAME       STATUS",
        "a          Running",
        "long-name  Pending",
    ]


def test_sampler_spreads_over_groups_and_keeps_order() -> None:
    items = [f"{group}-{i}" for group in "abc" for i in range(100)]
    picked = Sampler(items, lambda item: item[0]).take(9)
    assert picked == sorted(picked, key=items.index)
    assert {item[0] for item in picked} == {"a", "b", "c"} and len(picked) == 9


@pytest.mark.parametrize("seed", range(6))
def test_fit_listing_respects_the_budget_and_keeps_problems(seed: int) -> None:
    rng = random.Random(seed)
    problems = [
        (f"bad-{i}-{'x' * rng.randint(5, 30)}", "CrashLoopBackOff")
        for i in range(rng.randint(0, 300))
    ]
    rest = [(f"ok-{i}", "Running") for i in range(rng.randint(0, 5000))]
    budget = rng.choice((1500, 4000, 12000))
    listing = Listing(
        noun="pods",
        head=["summary"],
        columns=("NAME", "STATUS"),
        problems=list(problems),
        problem_keys=[p[0] for p in problems],
        problem_groups=["CrashLoopBackOff" for _ in problems],
        rest=list(rest),
        narrow="Narrow down: use a namespace.",
    )
    text, truncated = fit_listing(listing, budget)
    assert len(text) <= budget
    named = sum(1 for p in problems if p[0] in text)
    if named < len(problems):
        assert truncated and "not named" in text
    if truncated:
        assert text.endswith("(Narrow down: use a namespace.)")
    else:
        assert named == len(problems) and all(r[0] in text for r in rest)


def test_fit_findings_never_drops_a_finding() -> None:
    findings = [
        Finding(
            f"cat-{i % 4}",
            f"ns/app-{i}",
            [f"{i}. header {'x' * 100}", "   evidence " + "y" * 200],
            f"{i}. short",
        )
        for i in range(80)
    ]
    text, truncated = fit_findings(["head"], findings, 4000, "Narrow down.")
    assert truncated and len(text) <= 4000
    assert all(f.key in text or f.short in text for f in findings)
    assert text.count("header") >= 4


def test_fit_findings_gives_every_finding_a_line_before_more_detail() -> None:
    """Long first findings never leave the later ones named without their cause (when the
    one-line forms fit in half the budget)."""
    findings = [
        Finding(
            f"cat-{i}",
            f"ns/app-{i}",
            [f"{i}. header", "   evidence " + "y" * 900],
            f"{i}. cause-{i} " + "z" * 60,
        )
        for i in range(20)
    ]
    text, truncated = fit_findings(["head"], findings, 4000, "Narrow down.")
    assert truncated and len(text) <= 4000
    assert "by name only" not in text
    assert all(f"{i}. cause-{i}" in text or f"{i}. header" in text for i in range(20))
    assert "evidence" in text


def test_fit_tail_keeps_the_newest_lines() -> None:
    lines = [f"line {i} " + "z" * 50 for i in range(1000)]
    kept, dropped, cut = fit_tail(lines, 2000, ["head"])
    assert kept[-1] == lines[-1] and dropped == 1000 - len(kept) and cut == 0
    assert sum(len(line) + 1 for line in kept) < 2000
