"""Bytes <-> samples: transports, instrument and rig protocols, capture files, importers,
simulated devices. May import only analysis's data types (Trace, errors, gas)."""
