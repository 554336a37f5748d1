"""One set of secrets per account, in the environment (growthloop/account_env.py and the credentials classes)."""

from __future__ import annotations

import pytest

from growthloop.account_env import account_variable
from growthloop.adapters.platforms.bluesky.credentials import BlueskyCredentials
from growthloop.adapters.platforms.mastodon.credentials import MastodonCredentials
from growthloop.adapters.platforms.x.credentials import XCredentials
from growthloop.config import load_settings
from growthloop.errors import ConfigError

SINGLE = {
    "GROWTHLOOP_X_API_KEY": "app-key",
    "GROWTHLOOP_X_API_SECRET": "app-secret",
    "GROWTHLOOP_X_ACCESS_TOKEN": "default-token",
    "GROWTHLOOP_X_ACCESS_TOKEN_SECRET": "default-token-secret",
    "GROWTHLOOP_MASTODON_ACCESS_TOKEN": "default-mastodon",
    "GROWTHLOOP_BLUESKY_HANDLE": "default.bsky.social",
    "GROWTHLOOP_BLUESKY_APP_PASSWORD": "default-pass",
}


def test_the_naming_scheme() -> None:
    assert account_variable("brand-2", "GROWTHLOOP_X_ACCESS_TOKEN") == "GROWTHLOOP_ACCOUNTS__BRAND_2__X_ACCESS_TOKEN"
    assert account_variable("a.b", "GROWTHLOOP_MASTODON_ACCESS_TOKEN") == (
        "GROWTHLOOP_ACCOUNTS__A_B__MASTODON_ACCESS_TOKEN"
    )


def test_x_account_tokens_are_its_own_and_the_app_keys_shared() -> None:
    env = {
        **SINGLE,
        "GROWTHLOOP_ACCOUNTS__BRAND_2__X_ACCESS_TOKEN": "b2-token",
        "GROWTHLOOP_ACCOUNTS__BRAND_2__X_ACCESS_TOKEN_SECRET": "b2-secret",
    }
    default = XCredentials.from_env(env)
    assert default.client_kwargs()["auth"].access_token.access_token == "default-token"
    b2 = XCredentials.from_env(env, account="brand-2")
    auth = b2.client_kwargs()["auth"]
    token = auth.access_token
    assert (token.access_token, token.access_token_secret, auth.api_key) == ("b2-token", "b2-secret", "app-key")
    assert b2.variables == (
        "GROWTHLOOP_X_API_KEY",
        "GROWTHLOOP_X_API_SECRET",
        "GROWTHLOOP_ACCOUNTS__BRAND_2__X_ACCESS_TOKEN",
        "GROWTHLOOP_ACCOUNTS__BRAND_2__X_ACCESS_TOKEN_SECRET",
    )
    assert "b2-token" not in repr(b2) and "GROWTHLOOP_ACCOUNTS__BRAND_2__X_ACCESS_TOKEN" in b2.hint_unauthorized()
    # an account's own app keys win over the shared ones
    own = {**env, "GROWTHLOOP_ACCOUNTS__BRAND_2__X_API_KEY": "own-key"}
    assert XCredentials.from_env(own, account="brand-2").client_kwargs()["auth"].api_key == "own-key"


def test_an_account_never_falls_back_to_the_default_accounts_token() -> None:
    with pytest.raises(ConfigError) as exc:
        XCredentials.from_env(SINGLE, account="brand-2")
    assert str(exc.value).startswith("environment: GROWTHLOOP_ACCOUNTS__BRAND_2__X_ACCESS_TOKEN: no X credentials")
    with pytest.raises(ConfigError, match="environment: GROWTHLOOP_ACCOUNTS__BRAND_2__MASTODON_ACCESS_TOKEN: not set"):
        MastodonCredentials.from_env(SINGLE, account="brand-2")
    with pytest.raises(ConfigError, match="environment: GROWTHLOOP_ACCOUNTS__BRAND_2__BLUESKY_HANDLE: not set"):
        BlueskyCredentials.from_env(SINGLE, account="brand-2")


def test_oauth2_mastodon_and_bluesky_per_account() -> None:
    env = {
        **SINGLE,
        "GROWTHLOOP_ACCOUNTS__B__X_OAUTH2_USER_TOKEN": "b-oauth2",
        "GROWTHLOOP_ACCOUNTS__B__MASTODON_ACCESS_TOKEN": "b-mastodon",
        "GROWTHLOOP_ACCOUNTS__B__BLUESKY_HANDLE": "b.bsky.social",
        "GROWTHLOOP_ACCOUNTS__B__BLUESKY_APP_PASSWORD": "b-pass",
    }
    x = XCredentials.from_env(env, account="b")
    assert x.mode == "oauth2" and x.client_kwargs() == {"access_token": "b-oauth2"}
    assert x.variables == ("GROWTHLOOP_ACCOUNTS__B__X_OAUTH2_USER_TOKEN",)
    m = MastodonCredentials.from_env(env, account="b")
    assert (m.token, m.variable) == ("b-mastodon", "GROWTHLOOP_ACCOUNTS__B__MASTODON_ACCESS_TOKEN")
    assert MastodonCredentials.from_env(env).token == "default-mastodon"
    b = BlueskyCredentials.from_env(env, account="b")
    assert (b.handle, b.app_password) == ("b.bsky.social", "b-pass")
    assert BlueskyCredentials.from_env(env).handle == "default.bsky.social"


def test_account_variables_are_not_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-account variables live beside the settings' GROWTHLOOP_* variables without being read as one."""
    monkeypatch.setenv("GROWTHLOOP_ACCOUNTS__BRAND_2__X_ACCESS_TOKEN", "b2-token")
    settings = load_settings(None, database_url="sqlite:///:memory:")
    assert "b2-token" not in settings.model_dump_json()
    assert settings.secrets_account is None
