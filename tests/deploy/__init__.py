"""Container image and Kubernetes manifests (Dockerfile, deploy/)."""
