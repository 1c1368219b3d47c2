"""Scoring: extract answer -> normalize -> tokenize -> align -> corpus metric."""
