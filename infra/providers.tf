provider "azurerm" {
  features {}
  # null: taken from ARM_SUBSCRIPTION_ID (azurerm 4.x needs one or the other).
  subscription_id = var.subscription_id
}

# Same credentials as azurerm (Azure CLI, ARM_* variables or a managed identity). Only read
# when postgres_entra_admin_group is set.
provider "azuread" {}

# The cluster is reached through a kubeconfig, the same one kubectl uses for the manifests
# (terraform_data.deploy), so both act as the same identity. Prepare it with
# `az aks get-credentials` (+ `kubelogin convert-kubeconfig -l azurecli` on Entra ID clusters).
provider "kubernetes" {
  config_path    = pathexpand(var.kubeconfig_path)
  config_context = local.kube_context
}
