"""What codes are for: commands built on trained models (demo, pretraining, ...)."""
