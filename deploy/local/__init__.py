"""The local lab: scripts run by path (bench.py, drills.py, ...) and the modules they share (lab/)."""
