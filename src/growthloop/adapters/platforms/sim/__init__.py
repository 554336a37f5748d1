"""The audience simulator (docs/design.md#simulator): a world file (`world`), a pure audience model
(`audience`), and the Platform that persists its state and wraps them."""
