"""Reports from result records (never imports torch): a pandas frame, then tables and figures."""
