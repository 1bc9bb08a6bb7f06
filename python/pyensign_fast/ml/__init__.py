"""Machine-learning helpers (``pyensign.ml``): :mod:`pyensign_fast.ml.dataframe` turns
events into pandas DataFrames. Needs the ``ml`` extra (pandas)."""
