# The private network that Redis and the backend share. Nothing on it is reachable from the
# internet; the backend reaches Redis at a fixed private address.

resource "scaleway_vpc" "main" {
  name   = "gift-genie-${var.environment}"
  region = var.region
  tags   = ["gift-genie", var.environment]
}

resource "scaleway_vpc_private_network" "main" {
  name   = "gift-genie-${var.environment}"
  vpc_id = scaleway_vpc.main.id
  region = var.region
  tags   = ["gift-genie", var.environment]

  ipv4_subnet {
    subnet = var.private_network_subnet
  }
}
