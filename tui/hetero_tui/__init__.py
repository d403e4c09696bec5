"""hetero-tui: the control room a user keeps open while their laptops train."""
