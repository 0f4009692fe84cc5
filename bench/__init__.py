"""ventbench sessions, protocols, the CLI, storage and reports (imports drivers, analysis)."""
