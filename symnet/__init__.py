"""symnet: exact, readable, checkable backpropagation."""
