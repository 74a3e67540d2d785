variable "region" {
  description = "Scaleway region for the private network, the container namespace and the backend."
  type        = string
  default     = "fr-par"
}

variable "zone" {
  description = "Scaleway zone for the Redis cluster (and the optional bastion gateway)."
  type        = string
  default     = "fr-par-1"
}

variable "environment" {
  description = "Deployment environment; used in names and tags."
  type        = string
  default     = "production"

  validation {
    condition     = contains(["production", "staging", "development"], var.environment)
    error_message = "The environment must be production, staging or development."
  }
}

variable "private_network_subnet" {
  description = "IPv4 range of the private network. RFC 1918 only: Redis must never be reachable from the internet."
  type        = string
  default     = "172.16.0.0/22"
}

variable "redis_private_ip" {
  description = "Fixed address of Redis on the private network, inside private_network_subnet. A fixed address keeps REDIS_URL stable and known at plan time."
  type        = string
  default     = "172.16.0.10"
}

variable "redis_node_type" {
  description = "Managed Redis node type."
  type        = string
  default     = "RED1-MICRO"
}

variable "redis_version" {
  description = "Managed Redis version. Upgrades migrate the cluster in place; downgrades are impossible."
  type        = string
  default     = "7.2.11"
}

variable "redis_user_name" {
  description = "Redis user the backend connects as."
  type        = string
  default     = "gift_genie"
}

variable "redis_password" {
  description = "Password of the Redis user. Passed to the backend as a secret environment variable, never in REDIS_URL."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.redis_password) >= 12
    error_message = "The Redis password must be at least 12 characters long."
  }
}

variable "backend_image" {
  description = "Registry image of the backend, built from backend/Dockerfile."
  type        = string
  default     = "rg.fr-par.scw.cloud/gift-genie/backend:latest"
}

variable "enable_bastion" {
  description = "Create a public gateway with an SSH bastion into the private network, for developer access to Redis. Off by default."
  type        = bool
  default     = false
}

variable "bastion_port" {
  description = "Port of the SSH bastion on the public gateway."
  type        = number
  default     = 61000
}
