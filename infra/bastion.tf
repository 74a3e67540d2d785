# Optional developer access: a public gateway with Scaleway's SSH bastion into the private
# network. Off by default (enable_bastion = false); see PRIVATE_NETWORK.md, "Developer access".

resource "scaleway_vpc_public_gateway_ip" "bastion" {
  count = var.enable_bastion ? 1 : 0
  zone  = var.zone
  tags  = ["gift-genie", var.environment, "bastion"]
}

resource "scaleway_vpc_public_gateway" "bastion" {
  count           = var.enable_bastion ? 1 : 0
  name            = "gift-genie-bastion-${var.environment}"
  type            = "VPC-GW-S"
  zone            = var.zone
  ip_id           = scaleway_vpc_public_gateway_ip.bastion[0].id
  bastion_enabled = true
  bastion_port    = var.bastion_port
  tags            = ["gift-genie", var.environment, "bastion"]
}

resource "scaleway_vpc_gateway_network" "bastion" {
  count              = var.enable_bastion ? 1 : 0
  gateway_id         = scaleway_vpc_public_gateway.bastion[0].id
  private_network_id = scaleway_vpc_private_network.main.id
  zone               = var.zone
  # Only the bastion: the containers keep their own egress, Redis gets no default route.
  enable_masquerade = false

  ipam_config {
    push_default_route = false
  }
}
