"""What one does with a trained generator: figures, metrics, projection."""
