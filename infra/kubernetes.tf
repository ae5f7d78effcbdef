# Cluster side: the namespace, the Secret the service reads, and the manifests of
# ../deploy/overlays/aks.

# Created here because the Secret must exist before the pods start; deploy/overlays/aks
# declares the same namespace (with its Pod Security labels), and kubectl owns its labels
# from then on, so Terraform does not fight over them.
resource "kubernetes_namespace_v1" "aggregator" {
  metadata {
    name = var.kubernetes_namespace
    labels = {
      "pod-security.kubernetes.io/enforce"         = "restricted"
      "pod-security.kubernetes.io/enforce-version" = "latest"
    }
  }

  lifecycle {
    ignore_changes = [metadata[0].labels, metadata[0].annotations]
  }
}

# The Secret deploy/ reads (deploy/README.md, "The Secret"): files under
# /var/run/secrets/aggregator named by the settings' *_file keys (`database-url` by
# database_url_file; tokens one per line), and `alertmanager-token` for the
# AlertmanagerConfig's bearer token.
resource "kubernetes_secret_v1" "aggregator" {
  metadata {
    name      = var.kubernetes_secret_name
    namespace = kubernetes_namespace_v1.aggregator.metadata[0].name
    labels    = { "app.kubernetes.io/part-of" = "alert-aggregator" }
  }
  type = "Opaque"
  data = {
    "database-url"          = local.database_url
    "azure-monitor-tokens"  = local.azure_monitor_token
    "alertmanager-tokens"   = local.alertmanager_token
    "alertmanager-token"    = local.alertmanager_token
    "api-read-tokens"       = local.api_read_token
    "api-write-tokens"      = local.api_write_token
    "pagerduty-routing-key" = var.pagerduty_routing_key
    "smtp-password"         = var.smtp_password
  }
}

# Only for an Alertmanager configured by hand (deploy/alertmanager/alertmanager.yaml): the
# token as /etc/alertmanager/secrets/<name>/token once the Alertmanager resource lists the
# Secret under `alertmanagerSpec.secrets`. The kit's operator-managed Alertmanager does not
# need it: deploy/'s AlertmanagerConfig reads `alertmanager-token` from the Secret above.
resource "kubernetes_secret_v1" "alertmanager_token" {
  count = var.alertmanager_namespace == null ? 0 : 1
  metadata {
    name      = var.alertmanager_token_kubernetes_secret_name
    namespace = var.alertmanager_namespace
    labels    = { "app.kubernetes.io/part-of" = "alert-aggregator" }
  }
  type = "Opaque"
  data = {
    "token" = local.alertmanager_token
  }
}

# The manifests: deploy/overlays/aks is a kustomization, which helm_release cannot install,
# so kubectl applies it (`kubectl apply -k`) from a terraform_data resource (built into
# Terraform >= 1.4; no null/kubectl provider to download). It runs again whenever a file
# under deploy/ or the Secret changes, then restarts the deployments so they read the
# Secret anew, and waits until they are Available. `terraform destroy` runs `kubectl delete -k`.
locals {
  deploy_root            = abspath("${path.module}/${var.deploy_root_dir}")
  deploy_kustomize_dir   = abspath("${path.module}/${var.deploy_kustomization_dir}")
  deploy_manifest_digest = sha256(join("", [for f in sort(fileset(local.deploy_root, "**")) : "${f}:${filesha256("${local.deploy_root}/${f}")}"]))
}

resource "terraform_data" "deploy" {
  count = var.deploy_manifests ? 1 : 0

  triggers_replace = {
    manifests = local.deploy_manifest_digest
    secret    = kubernetes_secret_v1.aggregator.metadata[0].resource_version
    context   = local.kube_context
  }

  # Read by the destroy-time provisioner, which may only refer to self.
  input = {
    kubeconfig    = pathexpand(var.kubeconfig_path)
    context       = local.kube_context
    kustomization = local.deploy_kustomize_dir
    namespace     = kubernetes_namespace_v1.aggregator.metadata[0].name
    timeout       = var.deploy_timeout
  }

  # Values go in through the environment, never pasted into the command line.
  provisioner "local-exec" {
    interpreter = ["/bin/sh", "-c"]
    command     = <<-EOT
      set -eu
      kubectl --context "$KUBE_CONTEXT" apply -k "$KUSTOMIZATION"
      kubectl --context "$KUBE_CONTEXT" -n "$NAMESPACE" rollout restart deployment
      kubectl --context "$KUBE_CONTEXT" -n "$NAMESPACE" wait --for=condition=Available deployment --all --timeout="$TIMEOUT"
    EOT
    environment = {
      KUBECONFIG    = self.input.kubeconfig
      KUBE_CONTEXT  = self.input.context
      KUSTOMIZATION = self.input.kustomization
      NAMESPACE     = self.input.namespace
      TIMEOUT       = self.input.timeout
    }
  }

  provisioner "local-exec" {
    when        = destroy
    interpreter = ["/bin/sh", "-c"]
    command     = "kubectl --context \"$KUBE_CONTEXT\" delete -k \"$KUSTOMIZATION\" --ignore-not-found --wait=false"
    environment = {
      KUBECONFIG    = self.input.kubeconfig
      KUBE_CONTEXT  = self.input.context
      KUSTOMIZATION = self.input.kustomization
    }
  }

  depends_on = [
    kubernetes_secret_v1.aggregator,
    kubernetes_secret_v1.alertmanager_token,
    azurerm_postgresql_flexible_server_configuration.require_secure_transport,
    azurerm_postgresql_flexible_server_configuration.ssl_min_protocol_version,
  ]
}
