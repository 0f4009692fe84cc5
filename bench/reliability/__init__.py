"""Reliability (endurance) runs: days-long streaming, crash-safe storage, events, analysis
and the report section. See ``docs/reliability.md``."""
