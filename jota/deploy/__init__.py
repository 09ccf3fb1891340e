"""Jota on real machines: the daemons' flags, their systemd units and the files a
control-plane machine makes for the workers that join it.

deploy/'s provisioning scripts (which the Vagrantfile and the provisioning test run)
call `python -m jota.deploy`; everything here but the CLI is pure.
"""
