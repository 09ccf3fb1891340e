"""NetworkPolicy enforcement on a node, as kube-router's firewall: rules.py (pure),
apply.py (iptables-restore), controller.py (watch and sync); run inside jota-proxy."""
