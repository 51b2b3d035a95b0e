"""R1-Reward's reward for StableReinforce: format, accuracy, and consistency judged by a referee."""
