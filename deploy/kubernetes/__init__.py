"""The kustomize base. A package only so that mypy names generate.py apart from grafana/generate.py."""
