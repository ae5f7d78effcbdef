# Terraform and provider versions. Every provider listed here is used by this root module:
#   azurerm    action group, alert rules, PostgreSQL Flexible Server, private DNS zone
#   azuread    looks up the optional Entra ID admin group of the PostgreSQL server
#   kubernetes the namespace and the Secrets the service (and Alertmanager) read
#   random     the generated tokens and the database administrator password
# No helm provider: deploy/overlays/aks is a kustomization, applied with `kubectl apply -k`
# from a terraform_data resource (built into Terraform, no provider; see kubernetes.tf).
# Lower bounds: the provider schemas every argument here was checked against (azurerm 4.55,
# azuread 3.7, kubernetes 2.38, random 3.7); upper bounds: the next major version.
terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.55"
    }
    azuread = {
      source  = "hashicorp/azuread"
      version = "~> 3.7"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.38"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }
}
