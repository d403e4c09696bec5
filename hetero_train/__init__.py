"""hetero_train: exact, load-balanced data-parallel training across GPU and CPU machines."""
