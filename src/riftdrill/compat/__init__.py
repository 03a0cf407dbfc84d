"""riftdrill.compat: which Kafka clients and workflows work against the deployed engine."""
