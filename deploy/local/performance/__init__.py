"""The scenarios of `make bench` (deploy/local/bench.py): its app, profile, ingest and report."""

from deploy.local.lab.report import stamped

log = stamped("bench")

# Repeat visits: this many numbers, each looked up again and again within the page cache's minute
# (a parcel everybody in a family follows, a customer refreshing), against 5,000 otherwise.
REPEAT_NUMBERS = 200
