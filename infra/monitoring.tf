# Azure Monitor side: one action group whose only receiver is the aggregator, and the two
# alert rules of the kit that notify through it.

resource "azurerm_monitor_action_group" "aggregator" {
  name                = "${var.name_prefix}-aggregator"
  resource_group_name = data.azurerm_resource_group.this.name
  short_name          = var.action_group_short_name
  enabled             = true
  tags                = local.tags

  # Action groups cannot set headers, so the token travels in the query string (the
  # service also takes https://azure:<token>@host/...). The common alert schema is the one
  # shape every alert type shares; the service parses the older ones too, but this pins it.
  webhook_receiver {
    name                    = "alert-aggregator"
    service_uri             = "${local.azure_monitor_webhook_endpoint}?token=${local.azure_monitor_token}"
    use_common_alert_schema = true
  }
}

# NotReady/Unknown nodes, from the AKS platform metric (no agent needed). One alert per
# node: `node` is split with "*", so two broken nodes are two problems in the aggregator.
resource "azurerm_monitor_metric_alert" "node_not_ready" {
  name                = "${var.name_prefix}-aks-node-not-ready"
  resource_group_name = data.azurerm_resource_group.this.name
  scopes              = [data.azurerm_kubernetes_cluster.this.id]
  description         = "A node of AKS cluster ${var.aks_cluster_name} reports Ready=NotReady/Unknown."
  severity            = var.node_not_ready_severity
  frequency           = "PT1M"
  window_size         = "PT5M"
  auto_mitigate       = true
  enabled             = true
  tags                = local.tags

  criteria {
    metric_namespace = "Microsoft.ContainerService/managedClusters"
    metric_name      = "kube_node_status_condition"
    aggregation      = "Average"
    operator         = "GreaterThan"
    threshold        = 0

    dimension {
      name     = "condition"
      operator = "Include"
      values   = ["Ready"]
    }

    # `status` (true/false/unknown) by default; `status2` (Ready/NotReady/Unknown) can be
    # chosen with var.node_not_ready_status_dimension (see the README, "Node alert").
    dimension {
      name     = var.node_not_ready_status_dimension.name
      operator = "Include"
      values   = var.node_not_ready_status_dimension.values
    }

    dimension {
      name     = "node"
      operator = "Include"
      values   = ["*"]
    }
  }

  action {
    action_group_id    = azurerm_monitor_action_group.aggregator.id
    webhook_properties = { "cluster" = var.aks_cluster_name }
  }
}

# Example log search alert (Container insights table KubePodInventory): containers in
# CrashLoopBackOff, one alert per namespace/pod/container. The dimension names are the
# Kubernetes label names Alertmanager uses, so both sources filter alike in the aggregator.
resource "azurerm_monitor_scheduled_query_rules_alert_v2" "crash_loop" {
  name                    = "${var.name_prefix}-aks-crashloop"
  display_name            = "${var.aks_cluster_name}: container in CrashLoopBackOff"
  description             = "A container of AKS cluster ${var.aks_cluster_name} is in CrashLoopBackOff."
  resource_group_name     = data.azurerm_resource_group.this.name
  location                = data.azurerm_log_analytics_workspace.this.location
  scopes                  = [data.azurerm_log_analytics_workspace.this.id]
  severity                = var.crash_loop_severity
  evaluation_frequency    = "PT5M"
  window_duration         = "PT15M"
  auto_mitigation_enabled = true
  enabled                 = true
  skip_query_validation   = var.skip_log_query_validation
  tags                    = local.tags

  criteria {
    query                   = <<-KQL
      KubePodInventory
      | where ClusterId =~ "${data.azurerm_kubernetes_cluster.this.id}"
      | where ContainerStatusReason == "CrashLoopBackOff"
      | extend container = tostring(split(ContainerName, "/")[1])
      | project TimeGenerated, namespace = Namespace, pod = Name, container, ContainerRestartCount
    KQL
    time_aggregation_method = "Count"
    operator                = "GreaterThan"
    threshold               = 0

    dimension {
      name     = "namespace"
      operator = "Include"
      values   = ["*"]
    }

    dimension {
      name     = "pod"
      operator = "Include"
      values   = ["*"]
    }

    dimension {
      name     = "container"
      operator = "Include"
      values   = ["*"]
    }

    failing_periods {
      minimum_failing_periods_to_trigger_alert = 1
      number_of_evaluation_periods             = 1
    }
  }

  action {
    action_groups     = [azurerm_monitor_action_group.aggregator.id]
    custom_properties = { "cluster" = var.aks_cluster_name }
  }
}
