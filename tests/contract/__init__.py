"""Contract tests: adapters against the official specs (Prism) and fakes at the network edge."""
