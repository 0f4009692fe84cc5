"""Words the judgement and the command line share: criteria, decision rules, modes.

Plain constants with no imports, so that a command's ``--help`` can offer them as choices
without loading numpy (:mod:`analysis.judgement` uses them).
"""

CRITERIA = ("every-breath", "mean")
DECISION_RULES = ("simple", "guarded")
MODES = ("vc", "pc")
