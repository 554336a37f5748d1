"""The offline generator: template posts from a bundled fact base, no network (the default writer)."""

from growthloop.adapters.generators.offline.generator import (
    DEFAULT_BUCKETS,
    DEFAULT_NICHE,
    OfflineGenerator,
)

__all__ = ["DEFAULT_BUCKETS", "DEFAULT_NICHE", "OfflineGenerator"]
