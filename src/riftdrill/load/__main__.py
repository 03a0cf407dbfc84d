"""`python -m riftdrill.load ...`: the load CLI, also how start_load runs in the background."""

from riftdrill.load.cli import main

main()
