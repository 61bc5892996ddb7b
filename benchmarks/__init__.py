"""`inbox bench`: the product measured next to bare baselines of the same stack, in one run."""
