"""Adapters: the concrete implementations of the ports in growthloop.ports."""
