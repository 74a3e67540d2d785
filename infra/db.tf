# Managed Redis on the private network only. In the current provider `acl` conflicts with
# `private_network`: a cluster has either a public endpoint behind an allow-list or private
# endpoints, so there is no public endpoint left "as a backup" (see PRIVATE_NETWORK.md).

locals {
  redis_port = 6379
  # service_ips takes the address with the private network's prefix length.
  redis_service_ip = "${var.redis_private_ip}/${split("/", var.private_network_subnet)[1]}"
}

resource "scaleway_redis_cluster" "main" {
  name         = "gift-genie-${var.environment}"
  version      = var.redis_version
  node_type    = var.redis_node_type
  user_name    = var.redis_user_name
  password     = var.redis_password
  cluster_size = 1
  # Changing tls_enabled replaces the cluster and loses its data; it stays as it was created.
  tls_enabled = false
  zone        = var.zone
  tags        = ["gift-genie", var.environment]

  private_network {
    id          = scaleway_vpc_private_network.main.id
    service_ips = [local.redis_service_ip]
  }

  lifecycle {
    # The cluster holds the users and the rate limits: a plan that would destroy it must fail.
    prevent_destroy = true
  }
}
