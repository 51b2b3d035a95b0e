"""ONNX export into the r1-judge checkpoint format (docs/checkpoint-format.md) and parity checks."""
