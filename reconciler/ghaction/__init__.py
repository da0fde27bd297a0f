"""The GitHub Action of this repository (action.yml): validate, plan and apply with PR
comments, labels, a job summary, and an apply that fails closed without a reviewed plan."""
