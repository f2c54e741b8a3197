"""The pipeline definition (pipeline.py) and the scripts its steps run."""
