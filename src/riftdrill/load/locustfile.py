"""Locust entry point shipped inside the package (loadtest/locustfile.py re-exports it)."""

from riftdrill.load.users import KafkaConsumerUser, KafkaProducerUser

__all__ = ["KafkaConsumerUser", "KafkaProducerUser"]
