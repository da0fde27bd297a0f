"""reconciler: declarative plan/apply for Kubernetes node pools."""

__version__ = "0.1.0"
