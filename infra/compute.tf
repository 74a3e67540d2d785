# The backend runs as a Serverless Container attached to the private network, and reaches Redis
# at its private address. The password travels as a secret, never inside REDIS_URL.

locals {
  # In cluster mode every node's address is a seed: the backend asks whichever answers first
  # for the cluster's map, then follows the map.
  redis_url = join(",", [for ip in local.redis_endpoints : "redis://${var.redis_user_name}@${ip}:${local.redis_port}/0"])
}

resource "scaleway_container_namespace" "main" {
  name        = "gift-genie-${var.environment}"
  description = "Gift Genie backend (${var.environment})"
  region      = var.region
  tags        = ["gift-genie", var.environment]
}

resource "scaleway_container" "backend" {
  name           = "gift-genie-backend"
  namespace_id   = scaleway_container_namespace.main.id
  registry_image = var.backend_image
  port           = 8080
  cpu_limit      = 280
  memory_limit   = 512
  min_scale      = 1
  max_scale      = 5
  privacy        = "public"
  protocol       = "http1"
  deploy         = true

  private_network_id = scaleway_vpc_private_network.main.id

  environment_variables = {
    REDIS_URL                   = local.redis_url
    REDIS_MODE                  = local.redis_mode
    REDIS_WAIT_REPLICAS         = tostring(var.redis_wait_replicas)
    REDIS_POOL_MAX_SIZE         = "50"
    REDIS_CONNECT_TIMEOUT       = "5s"
    REDIS_OPERATION_TIMEOUT     = "5s"
    REDIS_HEALTH_CHECK_INTERVAL = "30s"
    LOG_FORMAT                  = "json"
    # Scaleway's front end is the one proxy in front of the container.
    TRUSTED_PROXY_HOPS = "1"
  }

  secret_environment_variables = {
    REDIS_PASSWORD = var.redis_password
  }

  # The private endpoint must exist before the container that uses it starts.
  depends_on = [scaleway_redis_cluster.main]

  lifecycle {
    precondition {
      condition     = var.redis_wait_replicas == 0 || var.redis_cluster_size >= 2
      error_message = "A standalone Redis has no replica to wait for: set redis_wait_replicas = 0, or redis_cluster_size to 2 or more."
    }
  }
}
