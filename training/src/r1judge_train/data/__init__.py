"""Judging data: the R1-Reward prompt, the demo task, records and rewards."""
