"""The gateway benchmark (``scripts/bench``): fake upstream, bare floor, load generator,
phases, report. Run ``scripts/bench --help``."""
