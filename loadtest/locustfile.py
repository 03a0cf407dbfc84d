"""riftdrill's Locust users. Thin on purpose: the users live in riftdrill.load.

    locust -f loadtest/locustfile.py --rd-bootstrap 198.18.1.10:9092 --rd-rate 1000
    locust -f loadtest/locustfile.py --headless -u 2 -r 2 -t 30s --rd-rate 1000 --rd-run-dir ...
Options: `locust -f loadtest/locustfile.py --help` (group "riftdrill"); docs/load.md.
"""

from riftdrill.load.users import KafkaConsumerUser, KafkaProducerUser

__all__ = ["KafkaConsumerUser", "KafkaProducerUser"]
