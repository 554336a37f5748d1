"""Scheduled jobs: the registry (name -> stage), the run ledger, and the scheduler."""
