# The node layout of one cloud of a riftdrill deployment: which nodes exist, their node.id,
# zone and fixed private address, the KRaft voter strings of its controllers, and the values of
# each node's infra/templates/<engine>/server.properties.tftpl. Pure arithmetic (no provider,
# no resource), so the whole layout is known at plan time, before any instance exists, and the
# env can build a cross-cloud quorum without one cluster module depending on the other.
#
# The same rule in the lab's renderer (riftdrill.engines.kafka.template_values) is checked
# against this module's outputs by tests/unit/test_node_layout.py, which runs it in Terraform.

locals {
  # Each VM runs one node: listen on every interface, advertise the fixed address.
  listen_address = "0.0.0.0"
  # Where the cloud-init (infra/templates/cloud-init/broker.yaml.tftpl) formats the storage.
  log_dirs = "/var/lib/riftdrill/data"

  # Node i of a role lives in zone i % 3, at host 10+i (controllers) or 20+i (brokers) of
  # that zone's subnet (or of the one regional subnet).
  controllers = [for i in range(var.controller_count) : {
    key        = "controller-${i + 1}"
    node_id    = var.node_id_base + i
    roles      = "controller"
    zone_index = i % 3
    zone       = var.zones[i % 3]
    address    = cidrhost(var.subnet_cidrs[(i % 3) % length(var.subnet_cidrs)], 10 + i)
    port       = var.controller_port
  }]
  brokers = [for i in range(var.broker_count) : {
    key        = "broker-${i + 1}"
    node_id    = var.node_id_base + 10 + i
    roles      = "broker"
    zone_index = i % 3
    zone       = var.zones[i % 3]
    address    = cidrhost(var.subnet_cidrs[(i % 3) % length(var.subnet_cidrs)], 20 + i)
    port       = var.kafka_port
  }]
  nodes = { for n in concat(local.controllers, local.brokers) : n.key => n }

  voters = [for c in local.controllers : "${c.node_id}@${c.address}:${var.controller_port}"]
  quorum = var.controller_quorum_voters != null ? var.controller_quorum_voters : join(",", local.voters)

  # Security: the rule of riftdrill.engines.kafka.security_values. sasl-tls names the SASL_SSL
  # listener and the controllers' TLS listener, turns the authorizer on and points at the
  # node's files under secrets_dir; off leaves PLAINTEXT listeners and empty values.
  secure          = var.security == "sasl-tls"
  broker_listener = local.secure ? "SASL_SSL" : "PLAINTEXT"
  security_values = { for k, n in local.nodes : k => local.secure ? {
    listener_security_protocol_map = "CONTROLLER:SSL,SASL_SSL:SASL_SSL"
    inter_broker_listener_name     = "SASL_SSL"
    authorizer_class_name          = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    super_users                    = "User:broker"
    # Kafka's file config provider reads the login from the node's disk: no secret here.
    broker_sasl_jaas_config = "$${file:${var.secrets_dir}/broker-jaas.properties:sasl.jaas.config}"
    ssl_keystore_location   = "${var.secrets_dir}/brokers/${k}.pem"
    ssl_truststore_location = "${var.secrets_dir}/ca.pem"
    } : {
    listener_security_protocol_map = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    inter_broker_listener_name     = "PLAINTEXT"
    authorizer_class_name          = ""
    super_users                    = ""
    broker_sasl_jaas_config        = ""
    ssl_keystore_location          = ""
    ssl_truststore_location        = ""
  } }

  # One listener per role, the broker's first (as the lab renders a combined node).
  listeners = { for k, n in local.nodes : k => concat(
    contains(split(",", n.roles), "broker") ? [{ name = local.broker_listener, port = var.kafka_port }] : [],
    contains(split(",", n.roles), "controller") ? [{ name = "CONTROLLER", port = var.controller_port }] : [],
  ) }

  template_values = { for k, n in local.nodes : k => merge(var.kafka_settings, local.security_values[k], {
    process_roles            = n.roles
    node_id                  = n.node_id
    rack                     = n.zone
    controller_quorum_voters = local.quorum
    listeners                = join(",", [for l in local.listeners[k] : "${l.name}://${local.listen_address}:${l.port}"])
    advertised_listeners     = join(",", [for l in local.listeners[k] : "${l.name}://${n.address}:${l.port}"])
    log_dirs                 = local.log_dirs
  }) }
}
