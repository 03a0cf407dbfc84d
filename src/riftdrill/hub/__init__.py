"""The integration hub (issue 16): a PostgreSQL source, Debezium's CDC into Kafka through Kafka
Connect, Debezium's JDBC sink into a PostgreSQL in the other cloud.

This package holds what the hub's workload writes and what the end of a run observes, below
`verify` (whose `verify.hub` judges them row by row) and above `load`.
"""
