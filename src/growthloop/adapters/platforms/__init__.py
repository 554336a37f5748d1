"""Platform adapters (docs/design.md#ports): the audience simulator, X, Bluesky and Mastodon."""
