"""Learning that works: attribution, the Bayesian model, policies, off-policy evaluation (docs/design.md#attribute
to #feed-back, #learning).

Pure functions over numpy arrays; the jobs read and write the database around them:

- `attribution`: the follower series explained by the posts through a delay kernel (`attribute`), and the
  seed's naive windows (`naive_windows`), each with a model name and version to store beside its figures;
- `model`: the Bayesian linear model of expected follows over one-hot dimension values, the hour and topic
  fatigue, with discounting for drift (`FeatureSpace`, `fit_follows_model`, `FollowsModel.value_effects`);
- `policies`: "bayes" (Thompson sampling on that model), "seed", "uniform", "oracle", each deciding with
  its propensities, joint and per dimension;
- `ope`: what another policy would have gained, from the logged decisions (IPS, SNIPS, doubly robust,
  pseudo-inverse), with 95% intervals.
"""

from growthloop.learning.attribution import (
    MODEL_NAME as ATTRIBUTION_MODEL,
)
from growthloop.learning.attribution import (
    MODEL_VERSION as ATTRIBUTION_VERSION,
)
from growthloop.learning.attribution import (
    NAIVE_NAME,
    NAIVE_VERSION,
    Attribution,
    AttributionFit,
    DelayKernel,
    NaiveWindows,
    attribute,
    estimate_completeness,
    naive_windows,
)
from growthloop.learning.model import (
    MODEL_NAME,
    MODEL_VERSION,
    FeatureSpace,
    FollowsModel,
    ValueEffect,
    discount_weights,
    expected_under,
    fatigue_counts,
    fit_follows_model,
    follow_design,
)
from growthloop.learning.ope import Estimate, evaluate, evaluate_policy
from growthloop.learning.policies import (
    POLICIES,
    BayesPolicy,
    Context,
    Decision,
    OraclePolicy,
    Policy,
    SeedPolicy,
    UniformPolicy,
    make_policy,
    seed_table,
)

__all__ = [
    "ATTRIBUTION_MODEL",
    "ATTRIBUTION_VERSION",
    "MODEL_NAME",
    "MODEL_VERSION",
    "NAIVE_NAME",
    "NAIVE_VERSION",
    "POLICIES",
    "Attribution",
    "AttributionFit",
    "BayesPolicy",
    "Context",
    "Decision",
    "DelayKernel",
    "Estimate",
    "FeatureSpace",
    "FollowsModel",
    "NaiveWindows",
    "OraclePolicy",
    "Policy",
    "SeedPolicy",
    "UniformPolicy",
    "ValueEffect",
    "attribute",
    "discount_weights",
    "estimate_completeness",
    "evaluate",
    "evaluate_policy",
    "expected_under",
    "fatigue_counts",
    "fit_follows_model",
    "follow_design",
    "make_policy",
    "naive_windows",
    "seed_table",
]
