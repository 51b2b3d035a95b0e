"""The r1-judge checkpoint format: manifest, writing and validation (docs/checkpoint-format.md)."""
