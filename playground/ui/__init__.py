"""Gradio UI built from the registry's declarations. Knows nothing of any family's internals."""
