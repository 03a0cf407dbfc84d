"""riftdrill's Locust users. Thin on purpose: the users live in riftdrill.load.

    locust -f loadtest/locustfile.py --rd-rate 1000                 # web UI, bootstrap from inventory
    locust -f loadtest/locustfile.py --headless -u 2 -r 2 -t 30s --rd-rate 1000 --rd-run-dir ...
    locust -f loadtest/locustfile.py --master ... / --worker --master-host ...
The --rd-* options (Locust's --help cannot list them) and the distributed mode: docs/load.md.
"""

from riftdrill.load.users import KafkaConsumerUser, KafkaProducerUser

__all__ = ["KafkaConsumerUser", "KafkaProducerUser"]
