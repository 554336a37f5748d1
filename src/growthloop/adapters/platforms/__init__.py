"""Platform adapters (SPEC §4): the audience simulator, X, Bluesky and Mastodon."""
