# node-layout on its own: 3 controllers and 3 brokers over three zones. No provider: this
# example runs offline (`terraform init && terraform apply`), and
# tests/unit/test_infra_static.py validates it for real.

module "layout" {
  source = "../.."

  node_id_base     = 1
  controller_count = 3
  broker_count     = 3
  zones            = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
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

output "voters" {
  description = "controller.quorum.voters entries of the three controllers."
  value       = module.layout.voters
}
