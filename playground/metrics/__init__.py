"""Evaluation: evaluator networks, sample-quality scores and reports with their protocol."""
