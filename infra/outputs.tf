# Outputs. Anything that contains a token or a password is `sensitive`; read one with
# `terraform output -raw <name>`.

output "azure_monitor_webhook_url" {
  description = "Where the action group posts (without its token): <aggregator_public_url>/webhooks/azure-monitor."
  value       = local.azure_monitor_webhook_endpoint
}

output "azure_monitor_webhook_url_with_token" {
  description = "The action group's full webhook URL, token included, for setting up another action group by hand."
  value       = azurerm_monitor_action_group.aggregator.webhook_receiver[0].service_uri
  sensitive   = true
}

output "action_group_id" {
  description = "Resource ID of the action group; add it to any other alert rule that should reach the aggregator."
  value       = azurerm_monitor_action_group.aggregator.id
}

output "node_not_ready_alert_id" {
  description = "Resource ID of the NotReady/Unknown node metric alert."
  value       = azurerm_monitor_metric_alert.node_not_ready.id
}

output "crash_loop_alert_id" {
  description = "Resource ID of the example log search alert (CrashLoopBackOff)."
  value       = azurerm_monitor_scheduled_query_rules_alert_v2.crash_loop.id
}

output "postgres_server_id" {
  description = "Resource ID of the PostgreSQL Flexible Server."
  value       = azurerm_postgresql_flexible_server.this.id
}

output "postgres_fqdn" {
  description = "Host name of the PostgreSQL server (resolves to a private address inside the linked VNets)."
  value       = azurerm_postgresql_flexible_server.this.fqdn
}

output "postgres_database_name" {
  description = "Database the service uses."
  value       = azurerm_postgresql_flexible_server_database.aggregator.name
}

output "postgres_administrator_login" {
  description = "Login the service connects as."
  value       = azurerm_postgresql_flexible_server.this.administrator_login
}

output "database_url" {
  description = "The service's database_url (postgresql+asyncpg://...?ssl=...), password included."
  value       = local.database_url
  sensitive   = true
}

output "kubernetes_namespace" {
  description = "Namespace of the service."
  value       = kubernetes_namespace_v1.aggregator.metadata[0].name
}

output "kubernetes_secret_name" {
  description = "Secret with database-url, the tokens and the channel secrets, read by deploy/."
  value       = kubernetes_secret_v1.aggregator.metadata[0].name
}

output "alertmanager_webhook_url" {
  description = "In-cluster URL of the Alertmanager webhook, for the kube-prometheus-stack receiver."
  value       = local.alertmanager_webhook_endpoint
}

output "alertmanager_token_secret" {
  description = "Namespace/name of the Secret (key `token`) for an Alertmanager configured by hand; null when alertmanager_namespace is null."
  value       = var.alertmanager_namespace == null ? null : "${var.alertmanager_namespace}/${var.alertmanager_token_kubernetes_secret_name}"
}

output "azure_monitor_token" {
  description = "Token of the Azure Monitor webhook."
  value       = local.azure_monitor_token
  sensitive   = true
}

output "alertmanager_token" {
  description = "Bearer token Alertmanager sends."
  value       = local.alertmanager_token
  sensitive   = true
}

output "api_read_token" {
  description = "Bearer token for reading the REST API."
  value       = local.api_read_token
  sensitive   = true
}

output "api_write_token" {
  description = "Bearer token for reading and writing the REST API."
  value       = local.api_write_token
  sensitive   = true
}

output "manifests_applied" {
  description = "Digest of the deploy/ files last applied with kubectl (null when deploy_manifests is false)."
  value       = var.deploy_manifests ? local.deploy_manifest_digest : null
}
