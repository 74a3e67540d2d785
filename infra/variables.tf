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

variable "redis_private_ips" {
  description = "Fixed addresses of Redis on the private network, inside private_network_subnet. Standalone and high availability answer on the first (one endpoint that follows the primary). Cluster mode uses all six: one per node, reserved when the cluster is created because its private network cannot be edited afterwards. Fixed addresses keep REDIS_URL known at plan time."
  type        = list(string)
  default     = ["172.16.0.10", "172.16.0.11", "172.16.0.12", "172.16.0.13", "172.16.0.14", "172.16.0.15"]

  validation {
    condition     = length(var.redis_private_ips) == 6 && length(distinct(var.redis_private_ips)) == 6
    error_message = "Give six distinct addresses: one per node of the largest cluster (cluster_size = 6)."
  }
}

variable "redis_cluster_size" {
  description = "Shape of Managed Redis: 1 is standalone; 2 is high availability (a primary and a standby behind one endpoint, replicated asynchronously); 3 to 6 is cluster mode (keys split by hash slot over that many primaries, each with a replica). The backend's REDIS_MODE follows. See PRIVATE_NETWORK.md before changing it: only growing a cluster (3 to 6) happens in place."
  type        = number
  default     = 1

  validation {
    condition     = floor(var.redis_cluster_size) == var.redis_cluster_size && var.redis_cluster_size >= 1 && var.redis_cluster_size <= 6
    error_message = "The Redis cluster size must be 1 (standalone), 2 (high availability) or 3 to 6 (cluster mode)."
  }
}

variable "redis_wait_replicas" {
  description = "How many replicas must have an account before the backend answers 201 (REDIS_WAIT_REPLICAS). 0 keeps replication asynchronous: a failover can lose the last acknowledged registrations. 1 needs high availability or cluster mode."
  type        = number
  default     = 0

  validation {
    condition     = floor(var.redis_wait_replicas) == var.redis_wait_replicas && var.redis_wait_replicas >= 0 && var.redis_wait_replicas <= 16
    error_message = "The number of replicas to wait for must be a whole number from 0 to 16."
  }
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
