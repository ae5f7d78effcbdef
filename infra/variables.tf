# Inputs. Secrets (tokens) are `sensitive` and have no value here: null means "generate one"
# (random.tf). The database password is always generated. See README.md for every input.

# --- Azure: where things are -------------------------------------------------------------

variable "subscription_id" {
  description = "Azure subscription to work in. null: taken from ARM_SUBSCRIPTION_ID."
  type        = string
  default     = null
}

variable "resource_group_name" {
  description = "Existing resource group that receives the action group, the alert rules, the PostgreSQL server and its private DNS zone."
  type        = string
}

variable "location" {
  description = "Azure region of the PostgreSQL server. null: the resource group's region."
  type        = string
  default     = null
}

variable "name_prefix" {
  description = "Prefix of the names of the action group and the alert rules."
  type        = string
  default     = "aggregator"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,30}$", var.name_prefix))
    error_message = "name_prefix: lower-case letters, digits and '-', at most 31 characters."
  }
}

variable "tags" {
  description = "Tags added to every Azure resource created here."
  type        = map(string)
  default     = {}
}

variable "aks_cluster_name" {
  description = "Name of the existing AKS cluster (the kit's). Read only; never recreated."
  type        = string
}

variable "aks_resource_group_name" {
  description = "Resource group of the AKS cluster. null: resource_group_name."
  type        = string
  default     = null
}

variable "log_analytics_workspace_name" {
  description = "Existing Log Analytics workspace that receives the cluster's Container insights data (KubePodInventory); scope of the log search alert."
  type        = string
}

variable "log_analytics_workspace_resource_group_name" {
  description = "Resource group of the Log Analytics workspace. null: resource_group_name."
  type        = string
  default     = null
}

# --- The service and its tokens ----------------------------------------------------------

variable "aggregator_public_url" {
  description = "Public HTTPS base URL of the aggregator as Azure reaches it (the ingress of deploy/overlays/aks), e.g. https://alerts.example.com. The action group posts to <url>/webhooks/azure-monitor?token=..."
  type        = string

  validation {
    condition     = can(regex("^https://[^/?#@\\s]+(/[^?#\\s]*)?$", var.aggregator_public_url))
    error_message = "aggregator_public_url: an https:// URL without query, fragment or credentials (the token goes in over TLS only)."
  }
}

variable "azure_monitor_token" {
  description = "Token of the Azure Monitor webhook (auth.azure_monitor_tokens). At least 16 URL-safe characters. null: generated."
  type        = string
  sensitive   = true
  default     = null

  validation {
    condition     = var.azure_monitor_token == null || can(regex("^[A-Za-z0-9._~-]{16,}$", var.azure_monitor_token))
    error_message = "azure_monitor_token: at least 16 characters of A-Z a-z 0-9 . _ ~ - (it goes into a URL unescaped)."
  }
}

variable "alertmanager_token" {
  description = "Bearer token Alertmanager sends (auth.alertmanager_tokens). At least 16 characters. null: generated."
  type        = string
  sensitive   = true
  default     = null

  validation {
    condition     = var.alertmanager_token == null || can(regex("^[!-~]{16,}$", var.alertmanager_token))
    error_message = "alertmanager_token: at least 16 printable ASCII characters, no spaces."
  }
}

variable "api_read_token" {
  description = "Bearer token that may read the REST API (auth.api_read_tokens). At least 16 characters. null: generated."
  type        = string
  sensitive   = true
  default     = null

  validation {
    condition     = var.api_read_token == null || can(regex("^[!-~]{16,}$", var.api_read_token))
    error_message = "api_read_token: at least 16 printable ASCII characters, no spaces."
  }
}

variable "api_write_token" {
  description = "Bearer token that may read and write the REST API (auth.api_write_tokens): acknowledge, silences. At least 16 characters. null: generated."
  type        = string
  sensitive   = true
  default     = null

  validation {
    condition     = var.api_write_token == null || can(regex("^[!-~]{16,}$", var.api_write_token))
    error_message = "api_write_token: at least 16 printable ASCII characters, no spaces."
  }
}

variable "pagerduty_routing_key" {
  description = "PagerDuty Events API v2 routing key of the oncall_pagerduty channel (Secret key pagerduty-routing-key). deploy/ mounts it as a file, so it must be set; \"\" if the channel is not used."
  type        = string
  sensitive   = true
  nullable    = false
}

variable "smtp_password" {
  description = "SMTP password of the team_mail channel (Secret key smtp-password). deploy/ mounts it as a file, so it must be set; \"\" if the channel is not used."
  type        = string
  sensitive   = true
  nullable    = false
}

# --- Alert rules -------------------------------------------------------------------------

variable "action_group_short_name" {
  description = "Short name of the action group (shown in SMS and e-mail), at most 12 characters."
  type        = string
  default     = "aggregator"

  validation {
    condition     = length(var.action_group_short_name) >= 1 && length(var.action_group_short_name) <= 12
    error_message = "action_group_short_name: 1 to 12 characters."
  }
}

variable "node_not_ready_severity" {
  description = "Severity of the NotReady/Unknown node alert: 0 critical, 1 error, 2 warning, 3-4 info in the aggregator."
  type        = number
  default     = 1

  validation {
    condition     = contains([0, 1, 2, 3, 4], var.node_not_ready_severity)
    error_message = "node_not_ready_severity: 0 to 4."
  }
}

variable "node_not_ready_status_dimension" {
  description = "Dimension of kube_node_status_condition (with condition = Ready) that marks a node not ready, and its values. Default: status in false/unknown, as AKS's own guidance (Azure/AKS#1997) names them. The older status2 dimension (NotReady/Unknown) was announced for removal there; use {name = \"status2\", values = [\"NotReady\", \"Unknown\"]} if your cluster still reports only that."
  type = object({
    name   = string
    values = list(string)
  })
  default = {
    name   = "status"
    values = ["false", "unknown"]
  }

  validation {
    condition     = contains(["status", "status2"], var.node_not_ready_status_dimension.name) && length(var.node_not_ready_status_dimension.values) > 0
    error_message = "node_not_ready_status_dimension: name status or status2, at least one value."
  }
}

variable "crash_loop_severity" {
  description = "Severity of the example log search alert (containers in CrashLoopBackOff)."
  type        = number
  default     = 2

  validation {
    condition     = contains([0, 1, 2, 3, 4], var.crash_loop_severity)
    error_message = "crash_loop_severity: 0 to 4."
  }
}

variable "skip_log_query_validation" {
  description = "Create the log search alert without Azure checking its query. Needed only when the workspace has no KubePodInventory table yet (Container insights not sending)."
  type        = bool
  default     = false
}

# --- PostgreSQL --------------------------------------------------------------------------

variable "postgres_server_name" {
  description = "Name of the PostgreSQL Flexible Server (globally unique; becomes <name>.postgres.database.azure.com)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.postgres_server_name))
    error_message = "postgres_server_name: 3 to 63 lower-case letters, digits and '-', not starting or ending with '-'."
  }
}

variable "postgres_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "16"
}

variable "postgres_sku_name" {
  description = "Compute SKU. High availability needs General Purpose (GP_) or Memory Optimized (MO_); Burstable (B_) only without it."
  type        = string
  default     = "GP_Standard_D2ds_v5"
}

variable "postgres_storage_mb" {
  description = "Storage size in MB (grows automatically from there)."
  type        = number
  default     = 32768
}

variable "postgres_backup_retention_days" {
  description = "Days of point-in-time restore (7 to 35)."
  type        = number
  default     = 14

  validation {
    condition     = var.postgres_backup_retention_days >= 7 && var.postgres_backup_retention_days <= 35
    error_message = "postgres_backup_retention_days: 7 to 35."
  }
}

variable "postgres_geo_redundant_backup_enabled" {
  description = "Keep backups in the paired region too. Fixed at creation; not offered in every region."
  type        = bool
  default     = true
}

variable "postgres_high_availability_enabled" {
  description = "Zone-redundant standby with automatic failover (doubles the compute cost)."
  type        = bool
  default     = true
}

variable "postgres_zone" {
  description = "Availability zone of the primary."
  type        = string
  default     = "1"
}

variable "postgres_standby_zone" {
  description = "Availability zone of the standby (different from postgres_zone)."
  type        = string
  default     = "2"
}

variable "postgres_delegated_subnet_id" {
  description = "ID of an empty subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers, in the cluster's VNet or one peered with it. The server gets a private address there and no public endpoint."
  type        = string

  validation {
    condition     = can(regex("(?i)/providers/Microsoft.Network/virtualNetworks/[^/]+/subnets/[^/]+$", var.postgres_delegated_subnet_id))
    error_message = "postgres_delegated_subnet_id: a subnet resource ID (.../virtualNetworks/<vnet>/subnets/<subnet>)."
  }
}

variable "postgres_private_dns_zone_id" {
  description = "Existing private DNS zone (name ending in .postgres.database.azure.com) for the server. null: one is created and linked to the subnet's VNet and postgres_dns_link_vnet_ids."
  type        = string
  default     = null
}

variable "postgres_dns_link_vnet_ids" {
  description = "More VNets to link to the created private DNS zone, e.g. the cluster's VNet when the delegated subnet is in a peered one."
  type        = list(string)
  default     = []
}

variable "postgres_administrator_login" {
  description = "Administrator login of the server, used by the service (its password is generated)."
  type        = string
  default     = "aggregator"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.postgres_administrator_login)) && !contains(["admin", "administrator", "root", "azure_superuser", "azure_pg_admin", "guest", "public"], var.postgres_administrator_login)
    error_message = "postgres_administrator_login: a lower-case identifier that Azure does not reserve (admin, root, ... are)."
  }
}

variable "postgres_database_name" {
  description = "Database the service keeps its tables in."
  type        = string
  default     = "aggregator"
}

variable "postgres_ssl_min_protocol_version" {
  description = "Lowest TLS version the server accepts."
  type        = string
  default     = "TLSv1.2"

  validation {
    condition     = contains(["TLSv1.2", "TLSv1.3"], var.postgres_ssl_min_protocol_version)
    error_message = "postgres_ssl_min_protocol_version: TLSv1.2 or TLSv1.3."
  }
}

variable "database_ssl_mode" {
  description = "asyncpg ssl mode in the service's database URL. require: always encrypted (the server refuses anything else). verify-full also checks the certificate and host name; it needs the CA bundle in the pod (PGSSLROOTCERT=/etc/ssl/certs/ca-certificates.crt in deploy/)."
  type        = string
  default     = "require"

  validation {
    condition     = contains(["require", "verify-ca", "verify-full"], var.database_ssl_mode)
    error_message = "database_ssl_mode: require, verify-ca or verify-full (never prefer/allow/disable)."
  }
}

variable "postgres_entra_admin_group" {
  description = "Display name of an Entra ID security group made administrator of the server (for people, with Entra ID tokens). null: password login only."
  type        = string
  default     = null
}

# --- Kubernetes --------------------------------------------------------------------------

variable "kubeconfig_path" {
  description = "kubeconfig used by the kubernetes provider and by kubectl for deploy/ (prepare it with `az aks get-credentials`)."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_context" {
  description = "kubeconfig context of the cluster. null: aks_cluster_name (what `az aks get-credentials` names it)."
  type        = string
  default     = null
}

variable "kubernetes_namespace" {
  description = "Namespace of the service. Must match the namespace of deploy/overlays/aks."
  type        = string
  default     = "aggregator"
}

variable "kubernetes_secret_name" {
  description = "Name of the Secret with the database URL, the tokens and the channel secrets, as deploy/ reads it (secretKeyRef and a volume)."
  type        = string
  default     = "aggregator"
}

variable "kubernetes_service_name" {
  description = "Name of the aggregator's Service in deploy/ (for the in-cluster Alertmanager URL output)."
  type        = string
  default     = "aggregator"
}

variable "kubernetes_service_port" {
  description = "Port of the aggregator's Service in deploy/."
  type        = number
  default     = 8080
}

variable "alertmanager_namespace" {
  description = "Only for an Alertmanager configured by hand (deploy/alertmanager/alertmanager.yaml): its namespace, e.g. monitoring, where a Secret with the bearer token is created. null: none (the AlertmanagerConfig of deploy/ reads the token from the aggregator's Secret)."
  type        = string
  default     = null
}

variable "alertmanager_token_kubernetes_secret_name" {
  description = "Name of that Secret (key `token`; mounted at /etc/alertmanager/secrets/<name>/token)."
  type        = string
  default     = "aggregator-alertmanager"
}

variable "deploy_manifests" {
  description = "Apply deploy/overlays/aks with `kubectl apply -k` (needs kubectl on the machine that runs Terraform). false: only the namespace and Secrets; deploy by hand."
  type        = bool
  default     = true
}

variable "deploy_root_dir" {
  description = "deploy/ directory, relative to infra/. Any change of a file under it applies the manifests again."
  type        = string
  default     = "../deploy"
}

variable "deploy_kustomization_dir" {
  description = "Kustomization to apply, relative to infra/."
  type        = string
  default     = "../deploy/overlays/aks"
}

variable "deploy_timeout" {
  description = "How long to wait for the deployments to become Available after applying (kubectl duration)."
  type        = string
  default     = "300s"
}
