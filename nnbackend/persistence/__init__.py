"""Files that outlive a run: model files and checkpoints (``.npz`` with a JSON header,
never pickle), written atomically."""
