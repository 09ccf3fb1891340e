"""`jota-ingress`: an Ingress controller with Debian's nginx as the data plane.

    model.py    Ingresses + Services + EndpointSlices + Secrets -> a `Config` (pure):
                which Ingresses are ours, servers, locations, upstreams, certificates,
                and the warnings for what had to be skipped
    render.py   a `Config` -> the text of nginx.conf (pure, golden-file tested)
    nginx.py    the data plane: writes the files, `nginx -t`, starts nginx, reloads it
    sync.py     informers -> one queue -> model, render, nginx; status and events
    ingressclass.py  the IngressClass `jota`, created if missing
    main.py     flags and the process

As ingress-nginx, upstreams are the ready endpoints' pod IPs (not the ClusterIP), so
nginx balances and retries itself, and a reload is graceful (SIGHUP: old workers
finish their requests).
"""
