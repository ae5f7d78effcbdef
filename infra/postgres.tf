# Production state: Azure Database for PostgreSQL Flexible Server with private access (VNet
# integration). The server gets an address in a subnet delegated to
# Microsoft.DBforPostgreSQL/flexibleServers and no public endpoint at all; pods reach it
# through the VNet (the same VNet as the cluster, or a peered one linked to the DNS zone).
# Why not public access + firewall rules: AKS egress IPs change with the outbound type, and
# the "allow Azure services" rule admits every Azure tenant. See README.md, "Network".

locals {
  postgres_vnet_id            = replace(var.postgres_delegated_subnet_id, "/\\/subnets\\/[^\\/]+$/", "")
  create_postgres_dns_zone    = var.postgres_private_dns_zone_id == null
  postgres_private_dns_zone   = local.create_postgres_dns_zone ? azurerm_private_dns_zone.postgres[0].id : var.postgres_private_dns_zone_id
  postgres_dns_link_vnet_ids  = local.create_postgres_dns_zone ? toset(concat([local.postgres_vnet_id], var.postgres_dns_link_vnet_ids)) : toset([])
  postgres_entra_admin_needed = var.postgres_entra_admin_group != null
}

resource "azurerm_private_dns_zone" "postgres" {
  count               = local.create_postgres_dns_zone ? 1 : 0
  name                = "${var.postgres_server_name}.private.postgres.database.azure.com"
  resource_group_name = data.azurerm_resource_group.this.name
  tags                = local.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "postgres" {
  for_each              = local.postgres_dns_link_vnet_ids
  name                  = "${var.postgres_server_name}-${basename(each.value)}"
  private_dns_zone_name = azurerm_private_dns_zone.postgres[0].name
  resource_group_name   = data.azurerm_resource_group.this.name
  virtual_network_id    = each.value
  registration_enabled  = false
  tags                  = local.tags
}

resource "azurerm_postgresql_flexible_server" "this" {
  #checkov:skip=CKV2_AZURE_57: private access by VNet integration (delegated subnet, public_network_access_enabled = false); a private endpoint applies to servers created with public access only
  name                          = var.postgres_server_name
  resource_group_name           = data.azurerm_resource_group.this.name
  location                      = local.location
  version                       = var.postgres_version
  sku_name                      = var.postgres_sku_name
  storage_mb                    = var.postgres_storage_mb
  auto_grow_enabled             = true
  backup_retention_days         = var.postgres_backup_retention_days
  geo_redundant_backup_enabled  = var.postgres_geo_redundant_backup_enabled
  zone                          = var.postgres_zone
  delegated_subnet_id           = var.postgres_delegated_subnet_id
  private_dns_zone_id           = local.postgres_private_dns_zone
  public_network_access_enabled = false
  administrator_login           = var.postgres_administrator_login
  administrator_password        = random_password.postgres_admin.result
  tags                          = local.tags

  authentication {
    password_auth_enabled         = true
    active_directory_auth_enabled = local.postgres_entra_admin_needed
    tenant_id                     = local.postgres_entra_admin_needed ? data.azurerm_client_config.current.tenant_id : null
  }

  dynamic "high_availability" {
    for_each = var.postgres_high_availability_enabled ? [1] : []
    content {
      mode                      = "ZoneRedundant"
      standby_availability_zone = var.postgres_standby_zone
    }
  }

  maintenance_window {
    day_of_week  = 0
    start_hour   = 3
    start_minute = 0
  }

  lifecycle {
    # After a failover Azure swaps the primary and standby zones; do not fight it.
    ignore_changes = [zone, high_availability[0].standby_availability_zone]
  }

  depends_on = [azurerm_private_dns_zone_virtual_network_link.postgres]
}

# TLS: refuse unencrypted connections and anything below TLS 1.2 (both are server
# parameters on Flexible Server; set explicitly so a portal change shows up as drift).
resource "azurerm_postgresql_flexible_server_configuration" "require_secure_transport" {
  name      = "require_secure_transport"
  server_id = azurerm_postgresql_flexible_server.this.id
  value     = "on"
}

resource "azurerm_postgresql_flexible_server_configuration" "ssl_min_protocol_version" {
  name      = "ssl_min_protocol_version"
  server_id = azurerm_postgresql_flexible_server.this.id
  value     = var.postgres_ssl_min_protocol_version
}

resource "azurerm_postgresql_flexible_server_configuration" "log_connections" {
  name      = "log_connections"
  server_id = azurerm_postgresql_flexible_server.this.id
  value     = "on"
}

resource "azurerm_postgresql_flexible_server_database" "aggregator" {
  name      = var.postgres_database_name
  server_id = azurerm_postgresql_flexible_server.this.id
  charset   = "UTF8"
  collation = "en_US.utf8"
}

# Optional Entra ID administrators (a group) for people; the service keeps the password login.
data "azuread_group" "postgres_admins" {
  count            = local.postgres_entra_admin_needed ? 1 : 0
  display_name     = var.postgres_entra_admin_group
  security_enabled = true
}

resource "azurerm_postgresql_flexible_server_active_directory_administrator" "group" {
  count               = local.postgres_entra_admin_needed ? 1 : 0
  server_name         = azurerm_postgresql_flexible_server.this.name
  resource_group_name = data.azurerm_resource_group.this.name
  tenant_id           = data.azurerm_client_config.current.tenant_id
  object_id           = data.azuread_group.postgres_admins[0].object_id
  principal_name      = data.azuread_group.postgres_admins[0].display_name
  principal_type      = "Group"
}
