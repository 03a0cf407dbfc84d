# The cross-cloud link: GCP HA VPN <-> two AWS site-to-site VPN connections, four IPsec tunnels,
# four BGP sessions (the topology Google documents for a 99.99% HA VPN to AWS). Routes are
# exchanged by BGP, so each side learns the other's subnets without static routes.
#
# The drills do not tear the VPN down to sever the link (that takes minutes and re-creating it
# changes tunnel addresses); they flip the deny switches the cluster modules own: the AWS
# private network ACL (riftdrill:sever-link tag) and the GCP "<link>-sever-in/out" firewall rules.

locals {
  tags = merge(var.tags, {
    "riftdrill:drill-target" = "true"
    "riftdrill:link"         = var.name
  })

  # Tunnel i: AWS connection floor(i/2), its tunnel 1 or 2; GCP HA VPN interface floor(i/2).
  tunnels = [for i in range(4) : {
    connection = floor(i / 2)
    address    = i % 2 == 0 ? aws_vpn_connection.this[floor(i / 2)].tunnel1_address : aws_vpn_connection.this[floor(i / 2)].tunnel2_address
    psk        = i % 2 == 0 ? aws_vpn_connection.this[floor(i / 2)].tunnel1_preshared_key : aws_vpn_connection.this[floor(i / 2)].tunnel2_preshared_key
    gcp_inside = i % 2 == 0 ? aws_vpn_connection.this[floor(i / 2)].tunnel1_cgw_inside_address : aws_vpn_connection.this[floor(i / 2)].tunnel2_cgw_inside_address
    aws_inside = i % 2 == 0 ? aws_vpn_connection.this[floor(i / 2)].tunnel1_vgw_inside_address : aws_vpn_connection.this[floor(i / 2)].tunnel2_vgw_inside_address
  }]
}

resource "aws_vpn_gateway" "this" {
  vpc_id          = var.aws_vpc_id
  amazon_side_asn = var.aws_asn
  tags            = merge(local.tags, { Name = var.name })
}

resource "aws_vpn_gateway_route_propagation" "this" {
  for_each       = toset(var.aws_route_table_ids)
  vpn_gateway_id = aws_vpn_gateway.this.id
  route_table_id = each.value
}

resource "google_compute_ha_vpn_gateway" "this" {
  project = var.gcp_project_id
  name    = var.name
  region  = var.gcp_region
  network = var.gcp_network_id
}

resource "google_compute_router" "vpn" {
  project = var.gcp_project_id
  name    = "${var.name}-vpn"
  region  = var.gcp_region
  network = var.gcp_network_id

  bgp {
    asn            = var.gcp_asn
    advertise_mode = "DEFAULT" # advertises the network's subnets
  }
}

# One customer gateway per HA VPN interface (AWS sees GCP as the "customer").
resource "aws_customer_gateway" "gcp" {
  count      = 2
  bgp_asn    = var.gcp_asn
  ip_address = google_compute_ha_vpn_gateway.this.vpn_interfaces[count.index].ip_address
  type       = "ipsec.1"
  tags       = merge(local.tags, { Name = "${var.name}-gcp-${count.index}" })
}

resource "aws_vpn_connection" "this" {
  count               = 2
  vpn_gateway_id      = aws_vpn_gateway.this.id
  customer_gateway_id = aws_customer_gateway.gcp[count.index].id
  type                = "ipsec.1"
  static_routes_only  = false

  tunnel1_ike_versions = ["ikev2"]
  tunnel2_ike_versions = ["ikev2"]

  tags = merge(local.tags, { Name = "${var.name}-${count.index}" })
}

resource "google_compute_external_vpn_gateway" "aws" {
  project         = var.gcp_project_id
  name            = "${var.name}-aws"
  redundancy_type = "FOUR_IPS_REDUNDANCY"
  description     = "The four AWS tunnel endpoints of ${var.name}"

  dynamic "interface" {
    for_each = local.tunnels
    content {
      id         = interface.key
      ip_address = interface.value.address
    }
  }
}

resource "google_compute_vpn_tunnel" "this" {
  count                           = 4
  project                         = var.gcp_project_id
  name                            = "${var.name}-${count.index}"
  region                          = var.gcp_region
  vpn_gateway                     = google_compute_ha_vpn_gateway.this.id
  vpn_gateway_interface           = local.tunnels[count.index].connection
  peer_external_gateway           = google_compute_external_vpn_gateway.aws.id
  peer_external_gateway_interface = count.index
  shared_secret                   = local.tunnels[count.index].psk
  router                          = google_compute_router.vpn.id
  ike_version                     = 2
}

resource "google_compute_router_interface" "this" {
  count      = 4
  project    = var.gcp_project_id
  name       = "${var.name}-${count.index}"
  region     = var.gcp_region
  router     = google_compute_router.vpn.name
  ip_range   = "${local.tunnels[count.index].gcp_inside}/30"
  vpn_tunnel = google_compute_vpn_tunnel.this[count.index].name
}

resource "google_compute_router_peer" "this" {
  count           = 4
  project         = var.gcp_project_id
  name            = "${var.name}-${count.index}"
  region          = var.gcp_region
  router          = google_compute_router.vpn.name
  interface       = google_compute_router_interface.this[count.index].name
  peer_ip_address = local.tunnels[count.index].aws_inside
  peer_asn        = var.aws_asn
}
