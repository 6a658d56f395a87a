"""Classifier: tags every insats with its NSP area, a confidence and the reasons."""
