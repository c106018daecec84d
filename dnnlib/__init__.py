"""Small shared utilities (run directories, config files, logging)."""
