"""Evaluation of a judge checkpoint on held-out judging items."""
