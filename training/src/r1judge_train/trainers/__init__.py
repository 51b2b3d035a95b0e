"""Thin TRL trainers: the SFT cold start (and StableReinforce, later)."""
