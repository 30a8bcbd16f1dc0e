"""The neuron-local learned update rule (Metz et al. 2019, Sec. 4): meta-parameters theta,
shared by every unit of every layer, turn one forward pass on an unlabeled batch into new
W, b and V for a base network of any width, depth and activation.

Only theta's shapes depend on the config (channels, hidden size, readout rank, terms); the
base network's sizes never enter, which is what lets one theta drive any architecture.

Two optional extensions (issue 29), both off by default, where the rule is exactly the one
above: `competition` gives each unit its per-example standing within its layer (a softmax
share and a rank) as inputs of the unit network, and `zoo_terms` adds the increments of
hand-designed rules (`metaunsup.rules.zoo`, Oja's among them) at learned step sizes
beside a learned gate on the rule's own increment, so that every zoo rule is a special case
of the learned rule (`LearnedRule.theta_from`).

The package, by concern: `rule` (the `LearnedRule` config and its methods), `theta` (the
meta-parameters), `norms`, `competition`, `unit_network` (the per-unit networks and the
top-down pass), `terms` (the update directions) and `update` (the step).
"""

from metaunsup import submodules
from metaunsup.local_rule import param_count
from metaunsup.rules.learned.competition import competition_features
from metaunsup.rules.learned.norms import EPS, column_rms
from metaunsup.rules.learned.rule import ZOO_TERMS, LearnedRule
from metaunsup.rules.learned.terms import (
  ALL_TERMS,
  FIXED_TERMS,
  LOWRANK_TERMS,
  rule_terms_names,
  weight_update_terms,
)
from metaunsup.rules.learned.theta import check_theta, init_theta
from metaunsup.rules.learned.unit_network import (
  NUM_UNIT_ID,
  NUM_WEIGHT_STATS,
  top_signal,
  unit_network,
  unit_states,
)
from metaunsup.rules.learned.update import (
  apply_update,
  bias_update,
  inner_lrs,
  stabilize,
  zoo_increment,
)

__all__ = [
  "ALL_TERMS",
  "EPS",
  "FIXED_TERMS",
  "LOWRANK_TERMS",
  "LearnedRule",
  "NUM_UNIT_ID",
  "NUM_WEIGHT_STATS",
  "ZOO_TERMS",
  "apply_update",
  "bias_update",
  "check_theta",
  "column_rms",
  "competition_features",
  "init_theta",
  "inner_lrs",
  "param_count",
  "rule_terms_names",
  "stabilize",
  "top_signal",
  "unit_network",
  "unit_states",
  "weight_update_terms",
  "zoo_increment",
]

__getattr__ = submodules.loader(__name__)
