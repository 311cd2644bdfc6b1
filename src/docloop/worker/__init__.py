"""Background work: the loop that claims jobs from the database and runs them."""
