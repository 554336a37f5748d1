"""The learning defaults that `Settings` takes, defined once outside `growthloop.learning`, so that reading the
configuration does not import numpy and scipy (every command reads it, `growthloop --help` too)."""

DEFAULT_HALF_LIFE_DAYS = 7.0  # discounting for drift: an observation's weight halves every week
DEFAULT_EXPLORATION = 0.02  # the exploration floor: each value of a dimension keeps at least 2% / k
DEFAULT_TEMPERATURE = 0.3  # Thompson draws with the posterior sds scaled by this (see BayesPolicy)
DEFAULT_CHANGE_Z = 6.0  # a change point: a shift of this many standard errors (5 fired in 5 of 50 stationary runs)
