"""The stages of the loop, one module each (docs/design.md#stages):

plan -> generate -> gate -> post -> measure -> track -> attribute -> learn (-> plan, through the policy)

Each job-facing function takes (store, platform, generator, clock, account, settings) and returns a
JobResult; it reads the time only from the clock.
"""
