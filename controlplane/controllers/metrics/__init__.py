"""What the controller-manager serves beside its controllers: kube-state-metrics'
object-state series (`kubestate.py`, `collector.py`) and Prometheus HTTP service
discovery of every node and control-plane daemon (`discovery.py`)."""
