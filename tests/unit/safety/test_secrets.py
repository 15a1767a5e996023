from __future__ import annotations

import random
import string

import pytest

from alfred.safety.secrets import SecretRecognizer
from alfred.safety.text import TextView

RNG = random.Random(7)


def rand(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    while True:
        value = "".join(RNG.choice(alphabet) for _ in range(n))
        # Every character class the alphabet offers shows up, as in a real key.
        if all(
            any(check(c) for c in value)
            for check in (str.isdigit, str.isupper, str.islower)
            if any(map(check, alphabet))
        ):
            return value


def found(text: str, **kwargs: float) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in SecretRecognizer(**kwargs).find(TextView(text))]


def test_prefixed_keys() -> None:
    openai_key = f"sk-proj-{rand(60)}"
    anthropic_key = f"sk-ant-api03-{rand(93)}AA"
    aws_id = "AKIA" + rand(16, string.ascii_uppercase + string.digits)
    github = f"ghp_{rand(36)}"
    text = f"keys: {openai_key} {anthropic_key} {aws_id} {github}"
    assert found(text) == [
        ("OPENAI_KEY", openai_key),
        ("ANTHROPIC_KEY", anthropic_key),
        ("AWS_ACCESS_KEY_ID", aws_id),
        ("GITHUB_TOKEN", github),
    ]


def test_aws_secret_needs_aws_context_and_documented_example_is_caught() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert found(f"aws_secret_access_key = {secret}") == [("AWS_SECRET_KEY", secret)]
    # Without an AWS hint the same string is only generic high entropy (or nothing).
    assert all(kind != "AWS_SECRET_KEY" for kind, _ in found(f"value = {secret}"))


def test_private_key_block_is_one_span_and_public_material_is_not_secret() -> None:
    body = "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi0qQ1r7xR5S2s8Kf0PpL3a"
    block = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    assert found(f"key:\n{block}\nthanks") == [("PRIVATE_KEY", block)]
    assert found("-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----") == []
    assert found(f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----") == []


def test_url_password_masks_only_the_password() -> None:
    password = rand(16)
    assert found(f"postgres://app:{password}@db:5432/x") == [("URL_PASSWORD", password)]
    assert found("postgres://user:password@localhost/db") == []
    assert found("postgres://${U}:${P}@db/app") == []


@pytest.mark.parametrize(
    "text",
    [
        "commit 4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a3f",
        "id 123e4567-e89b-12d3-a456-426614174000",
        "OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "sk-proj-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "scikit-learn aka sk-learn",
        "class AbstractSingletonProxyFactoryBean",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        "SGVsbG8gd29ybGQsIHRoaXMgaXMgYSB0ZXN0IG1lc3NhZ2U=",
        "sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC",
    ],
)
def test_hard_negatives(text: str) -> None:
    assert found(text) == []


def test_generic_high_entropy_and_its_threshold() -> None:
    token = rand(40)
    assert found(f"token: {token}") == [("HIGH_ENTROPY", token)]
    assert found(f"token: {token}", entropy_margin=-1.0) == []


def test_random_tokens_of_every_length_are_caught_and_identifiers_are_not() -> None:
    recognizer = SecretRecognizer()
    for length in (24, 32, 48, 64, 100):
        hits = sum(bool(recognizer.find(TextView(f"key {rand(length)}"))) for _ in range(200))
        assert hits >= 190, (length, hits)
    for identifier in ("getUserAccountSettingsForTenantId2", "test_payments_webhook_signature_validation3X"):
        assert recognizer.find(TextView(identifier)) == []


def test_jwt_needs_a_json_header() -> None:
    jwt = (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
        ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    )
    assert found(f"Bearer {jwt}") == [("JWT", jwt)]
    assert found("eyJub3RhaGVhZGVyIjoxfQ.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnopqrstuv") == []
