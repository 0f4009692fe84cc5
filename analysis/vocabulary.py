"""Words the judgement and the command line share: criteria, decision rules, modes, presets.

Plain constants with no imports, so that a command's ``--help`` can offer them as choices
without loading numpy (:mod:`analysis.judgement` uses them).
"""

CRITERIA = ("every-breath", "mean")
DECISION_RULES = ("simple", "guarded")
MODES = ("vc", "pc")
#: The adaptive segmentation (no preset), and every name
#: :meth:`analysis.segment.SegmentationSettings.preset` takes.
AUTO = "auto"
SEGMENTATION_PRESETS = (AUTO, "adult", "paediatric", "neonatal")
