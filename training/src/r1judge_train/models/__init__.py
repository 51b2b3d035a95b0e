"""Model family: Qwen2.5-VL built from configs (no hub here)."""
