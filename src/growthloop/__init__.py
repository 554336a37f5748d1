"""growthloop: runs a social media account as a closed learning loop.

plan -> generate -> gate -> post -> measure -> track followers -> attribute -> learn -> plan
"""

__version__ = "0.1.0"
