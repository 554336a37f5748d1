"""The loop audits itself: doctor checks, alerts and metrics."""
