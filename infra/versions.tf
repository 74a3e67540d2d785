terraform {
  # Terraform 1.5+ and OpenTofu 1.6+ read this configuration alike.
  required_version = ">= 1.5.0"

  required_providers {
    scaleway = {
      source  = "scaleway/scaleway"
      version = "~> 2.81"
    }
  }
}

# Credentials come from SCW_ACCESS_KEY, SCW_SECRET_KEY and SCW_DEFAULT_PROJECT_ID.
provider "scaleway" {
  region = var.region
  zone   = var.zone
}
