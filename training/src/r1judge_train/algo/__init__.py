"""StableReinforce's algorithm in pure torch (no TRL, no transformers): advantages and the loss."""
