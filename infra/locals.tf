locals {
  location     = coalesce(var.location, data.azurerm_resource_group.this.location)
  kube_context = coalesce(var.kube_context, var.aks_cluster_name)
  tags         = merge({ "app" = "alert-aggregator", "managed-by" = "terraform" }, var.tags)

  # Webhook endpoints of the service. The Azure one carries its token in the query string
  # (action groups cannot send headers); the token itself is only in the sensitive values.
  public_url                     = trimsuffix(var.aggregator_public_url, "/")
  azure_monitor_webhook_endpoint = "${local.public_url}/webhooks/azure-monitor"
  alertmanager_webhook_endpoint  = "http://${var.kubernetes_service_name}.${var.kubernetes_namespace}.svc.cluster.local:${var.kubernetes_service_port}/webhooks/alertmanager"

  # A token given as a variable wins; otherwise the generated one (random.tf) is used.
  azure_monitor_token = var.azure_monitor_token != null ? var.azure_monitor_token : random_password.azure_monitor_token.result
  alertmanager_token  = var.alertmanager_token != null ? var.alertmanager_token : random_password.alertmanager_token.result
  api_read_token      = var.api_read_token != null ? var.api_read_token : random_password.api_read_token.result
  api_write_token     = var.api_write_token != null ? var.api_write_token : random_password.api_write_token.result

  # What the service reads: SQLAlchemy URL for asyncpg. asyncpg takes `ssl=` (not libpq's
  # `sslmode=`, which SQLAlchemy's asyncpg dialect would pass on and asyncpg would refuse).
  postgres_fqdn = azurerm_postgresql_flexible_server.this.fqdn
  database_url = format(
    "postgresql+asyncpg://%s:%s@%s:5432/%s?ssl=%s",
    urlencode(var.postgres_administrator_login),
    urlencode(random_password.postgres_admin.result),
    local.postgres_fqdn,
    urlencode(azurerm_postgresql_flexible_server_database.aggregator.name),
    var.database_ssl_mode,
  )
}
