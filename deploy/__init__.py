"""Deployment files. A package only so that mypy names deploy/kubernetes/generate.py apart from grafana/generate.py."""
