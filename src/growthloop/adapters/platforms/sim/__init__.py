"""The audience simulator of SPEC §5: a world file (`world`), a pure audience model (`audience`), and the
Platform that persists its state and wraps them."""
