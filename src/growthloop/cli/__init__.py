"""The command line: Typer commands, the only place that renders with Rich."""
