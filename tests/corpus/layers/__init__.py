"""Layer files for `verify_layer` and `symnet verify layers.py`: cs231n-style forward/backward
pairs, right and with the classic bug of each (cs231n.py), written for these tests."""
