"""Results: the per-pair record, the per-sample store, progress lines and the reports."""
