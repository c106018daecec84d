"""Files in and out: official pickles, network runs, SavedModel export, W files."""
