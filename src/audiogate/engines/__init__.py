"""Inference engines. An engine knows nothing of datasets or scoring."""
