"""Redaction, in its one place: every token and secret acrlib holds is removed by value, whatever its shape, as
well as whatever looks like one."""

from __future__ import annotations

from urllib.parse import quote, quote_plus

from hypothesis import given
from hypothesis import strategies as st

from acrlib import errors
from acrlib.errors import hold, redact

SECRET = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=errors.MIN_SECRET_CHARS, max_size=80)


@given(secret=SECRET, before=st.text(max_size=40), after=st.text(max_size=40))
def test_a_held_secret_is_in_no_message_in_any_of_its_forms(secret, before, after):
    hold(secret)
    for form in (secret, quote(secret, safe=""), quote_plus(secret)):
        assert secret not in redact(f"{before} {form} {after}")


def test_opaque_tokens_and_connection_string_secrets_are_redacted():
    entra = "EwBwA8l6BAAUkWfLQ0x7aQ5tHh"  # opaque: no dots, not a JWT
    hold(entra)
    assert redact(f"the token {entra} was refused") == "the token <redacted secret> was refused"
    text = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5a2V5a2V5a2V5;EndpointSuffix=core"
    assert "a2V5a2V5a2V5a2V5" not in redact(text) and "AccountName=acct" in redact(text)


def test_short_values_are_not_held_and_the_store_is_bounded():
    hold("abc")
    assert redact("abc") == "abc", "too short to be a secret: it would blank out ordinary words"
    for i in range(errors.MAX_SECRETS + 10):
        hold(f"secret-number-{i:08d}")
    assert len(errors._held) <= errors.MAX_SECRETS
    assert redact("secret-number-00000000") == "secret-number-00000000", "the oldest made way"
    assert "<redacted" in redact(f"secret-number-{errors.MAX_SECRETS + 9:08d}")
