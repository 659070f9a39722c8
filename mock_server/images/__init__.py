"""Image generation: real PNG and JPEG bytes drawn from the prompt."""
