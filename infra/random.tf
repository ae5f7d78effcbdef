# Generated secrets. Tokens use only letters and digits, so they go into a URL query string
# or a basic-auth user-info part without escaping. Rotate one with
# `terraform apply -replace=random_password.<name>` (the deployment is restarted with it).

resource "random_password" "azure_monitor_token" {
  length  = 48
  special = false
}

resource "random_password" "alertmanager_token" {
  length  = 48
  special = false
}

resource "random_password" "api_read_token" {
  length  = 48
  special = false
}

resource "random_password" "api_write_token" {
  length  = 48
  special = false
}

# Azure requires three of: upper case, lower case, digits, symbols. No symbols, so the
# password needs no quoting anywhere; 40 characters of 62 make up for it.
resource "random_password" "postgres_admin" {
  length      = 40
  special     = false
  min_upper   = 2
  min_lower   = 2
  min_numeric = 2
}
