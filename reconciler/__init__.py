"""reconciler: declarative plan/apply for Kubernetes node pools."""

__version__ = "0.1.0"
# Where the project's documentation lives (SARIF's informationUri, the schemas' $id base).
PROJECT_URL = "https://reconciler.dev"
