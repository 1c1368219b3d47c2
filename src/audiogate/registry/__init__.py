"""Registry data: datasets, models and prompts are YAML, not code."""
