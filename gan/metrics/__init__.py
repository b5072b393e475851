"""Evaluation: the project's own MNIST classifier and the metrics built on it."""
