"""Object storage for generated files: a local directory or an S3-compatible bucket, and their URLs."""
