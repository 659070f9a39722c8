"""The published spec as code: the operation index, request validation, schema-valid answers,
the one spec-checked route class, the catch-all for operations no service claims, and examples
mode."""
