"""jota-proxy: kube-proxy's iptables mode (rules.py pure, apply.py I/O, proxy.py loop)."""
