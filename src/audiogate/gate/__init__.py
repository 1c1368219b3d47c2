"""The gate: recorded thresholds, interval statistics and the paired test against a baseline."""
