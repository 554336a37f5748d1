"""What the platform costs: prices, one `platform_usage` row per priced call, the budget (docs/spend.md)."""
