# Managed Redis on the private network only. In the current provider `acl` conflicts with
# `private_network`: a cluster has either a public endpoint behind an allow-list or private
# endpoints, so there is no public endpoint left "as a backup" (see PRIVATE_NETWORK.md).

locals {
  redis_port = 6379
  # Cluster mode from three nodes; standalone and high availability both look like one server.
  redis_mode = var.redis_cluster_size >= 3 ? "cluster" : "standalone"
  # One endpoint that follows the primary, or one address per node of the largest cluster.
  redis_endpoints = local.redis_mode == "cluster" ? var.redis_private_ips : [var.redis_private_ips[0]]
  # service_ips take the addresses with the private network's prefix length.
  redis_service_ips = [for ip in local.redis_endpoints : "${ip}/${split("/", var.private_network_subnet)[1]}"]
}

resource "scaleway_redis_cluster" "main" {
  name      = "gift-genie-${var.environment}"
  version   = var.redis_version
  node_type = var.redis_node_type
  user_name = var.redis_user_name
  password  = var.redis_password
  # Growing a cluster (3 to 6) migrates it in place; any other change of shape replaces it,
  # which prevent_destroy refuses (see PRIVATE_NETWORK.md).
  cluster_size = var.redis_cluster_size
  # Changing tls_enabled replaces the cluster and loses its data; it stays as it was created.
  tls_enabled = false
  zone        = var.zone
  tags        = ["gift-genie", var.environment]

  private_network {
    id          = scaleway_vpc_private_network.main.id
    service_ips = local.redis_service_ips
  }

  lifecycle {
    # The cluster holds the users and the rate limits: a plan that would destroy it must fail.
    prevent_destroy = true
  }
}
