# node-layout's rule in Terraform's own test framework. No provider: this runs offline
# (tests/unit/test_infra_static.py runs `terraform test` here), unlike the cluster modules'.

variables {
  node_id_base     = 1
  controller_count = 3
  broker_count     = 3
  zones            = ["z-a", "z-b", "z-c"]
  subnet_cidrs     = ["10.40.0.0/20", "10.40.16.0/20", "10.40.32.0/20"]
  kafka_settings = {
    replication_factor           = 3
    min_insync_replicas          = 2
    num_partitions               = 6
    network_threads              = 3
    io_threads                   = 8
    segment_bytes                = 268435456
    retention_hours              = 24
    broker_session_timeout_ms    = 9000
    broker_heartbeat_interval_ms = 2000
    replica_lag_time_max_ms      = 30000
  }
}

run "three_zones_three_subnets" {
  command = plan

  assert {
    condition     = output.voters == ["1@10.40.0.10:9093", "2@10.40.16.11:9093", "3@10.40.32.12:9093"]
    error_message = "controller i: node.id base+i, host 10+i of zone i's subnet"
  }

  assert {
    condition     = output.bootstrap == "10.40.0.20:9092,10.40.16.21:9092,10.40.32.22:9092"
    error_message = "broker i: host 20+i of zone i's subnet, on kafka_port"
  }

  assert {
    condition     = [for b in output.brokers : b.node_id] == [11, 12, 13]
    error_message = "brokers take node.id base+10+i"
  }

  assert {
    condition     = output.nodes["broker-2"].zone == "z-b" && output.nodes["controller-3"].zone_index == 2
    error_message = "node i of each role lives in zone i % 3"
  }
}

run "one_regional_subnet" {
  command = plan

  variables {
    node_id_base = 101
    subnet_cidrs = ["10.50.0.0/20"]
  }

  assert {
    condition     = output.voters == ["101@10.50.0.10:9093", "102@10.50.0.11:9093", "103@10.50.0.12:9093"]
    error_message = "with one subnet every node lives in it, spread over the zones all the same"
  }
}

run "two_zones_are_refused" {
  command = plan

  variables {
    zones = ["z-a", "z-b"]
  }

  expect_failures = [var.zones]
}

run "two_subnets_are_refused" {
  command = plan

  variables {
    subnet_cidrs = ["10.40.0.0/20", "10.40.16.0/20"]
  }

  expect_failures = [var.subnet_cidrs]
}
