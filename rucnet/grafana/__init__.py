"""Dashboards as code, provisioning, push and the read model behind them."""
