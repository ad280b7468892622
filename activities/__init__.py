"""Side effects of the journey, one module per outside system. Every activity is idempotent."""
