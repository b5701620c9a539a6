"""One rule says which credential-looking keys only name or describe a credential: the text
masking (logs, events, annotations) and ``get_resource``'s object scrub follow it alike."""

from __future__ import annotations

import pytest

from jupyter_kchat.tools.objects import scrub
from jupyter_kchat.tools.redact import redact_text


@pytest.mark.parametrize(
    ("key", "value", "readable"),
    [
        ("secretName", "shop-tls", True),
        ("tokenSecretRef", "letsencrypt-key", True),
        ("secretNamespace", "cert-manager", True),
        ("tokenPath", "/var/run/secrets/tokens/vault", True),
        ("password_file", "/run/secrets/db", True),
        ("secretType", "Opaque", True),
        ("PASSWORD_FILE", "/run/secrets/db", True),
        ("token_type", "Bearer", True),
        ("sslSecretKind", "Secret", True),
        # Only a whole last word describes: a key merely ending in those letters, or a
        # credential's version or mode, may hold the credential itself.
        ("api_key_version", "9f86d081884c7d65", False),
        ("apiKeyVersion", "9f86d081884c7d65", False),
        ("password_mode", "hunter2", False),
        ("auth_profile", "s3cr3t-value", False),
        ("tokenname", "abc123def", False),
        ("secretnamespace", "s3cr3t-value", False),
        ("password", "hunter2", False),
        ("client_secret", "s3cr3t-value", False),
        ("apiKey", "k-7f3a9c", False),
        ("authToken", "abc123def", False),
    ],
)
def test_objects_and_text_agree_on_which_keys_hold_credentials(
    key: str, value: str, readable: bool
) -> None:
    in_object = scrub({key: value})[key]
    in_text = redact_text(f"{key}: {value}")
    assert (in_object == value) is readable, in_object
    assert (value in in_text) is readable, in_text
