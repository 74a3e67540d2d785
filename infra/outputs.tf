output "redis_private_endpoints" {
  description = "Where the backend reaches Redis on the private network: one endpoint, or every node's address in cluster mode."
  value       = [for ip in local.redis_endpoints : "${ip}:${local.redis_port}"]
}

output "private_network_details" {
  description = "The VPC and private network that Redis and the backend share."
  value = {
    vpc_id             = scaleway_vpc.main.id
    private_network_id = scaleway_vpc_private_network.main.id
    subnet             = var.private_network_subnet
    region             = var.region
  }
}

output "redis_connection_info" {
  description = "How to connect; the password is the redis_password variable, passed as the REDIS_PASSWORD secret."
  value = {
    redis_url        = local.redis_url
    redis_mode       = local.redis_mode
    password_env_var = "REDIS_PASSWORD"
    reachable_from   = "the private network ${var.private_network_subnet} only"
    bastion          = var.enable_bastion ? "ssh -J bastion@${scaleway_vpc_public_gateway_ip.bastion[0].address}:${var.bastion_port} <host on the private network>" : "disabled (set enable_bastion = true)"
  }
}

output "backend_url" {
  description = "Public HTTPS endpoint of the backend."
  value       = "https://${scaleway_container.backend.domain_name}"
}
