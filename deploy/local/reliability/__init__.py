"""The parts of the fault drills (deploy/local/drills.py): the stack, the load, the figures, the report."""
