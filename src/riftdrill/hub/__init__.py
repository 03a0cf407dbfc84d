"""The integration hub (issue 16): a PostgreSQL source, Debezium's CDC into Kafka through Kafka
Connect, Debezium's JDBC sink into a PostgreSQL in the other cloud.

Its parts (`postgres`, `connect`) render a component's configuration, prepare its data directory
and return the argv that runs it in the foreground, so the lab's process supervisor
(`lab/procs.py`) starts it inside a cloud's namespace like a broker; nothing here downloads
(`make setup` installs PostgreSQL and the Connect / Debezium jars). Its records (`rows`,
`observed`) are what the hub's workload writes and what the end of a run observes, judged row by
row by `verify.hub`. The layer sits above `engines` and below `lab`.
"""
