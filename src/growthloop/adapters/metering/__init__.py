"""Metering of platform calls (adapters/platforms/metered.py): one `platform_usage` row per priced call, X's
same-UTC-day deduplication, the pricing of X's HTTP calls and of other platforms' port operations."""
