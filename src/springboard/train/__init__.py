"""Training: hyperparameter schemas, the loop, checkpoints, artifacts, the job and the SDK."""
