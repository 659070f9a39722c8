"""Chat and text completions on catalogue models, fine-tuned outputs and started endpoints."""
