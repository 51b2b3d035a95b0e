"""r1judge_train: training kit for R1-Reward-style generative reward models (Qwen2.5-VL)."""

__version__ = "0.1.0"
