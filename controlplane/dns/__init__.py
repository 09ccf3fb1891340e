"""`jota-dns`: the cluster DNS, answering from informers as CoreDNS's kubernetes plugin.

    index.py     pure: Services + EndpointSlices -> what DNS needs of them (kept per Service)
    answers.py   pure: a question + the index -> records, rcode (the Kubernetes DNS spec)
    sync.py      informers -> index, one Service at a time
    server.py    UDP and TCP on asyncio; names outside the zone go upstream
    service.py   the `kube-dns` Service in kube-system, pointing at this process
    main.py      flags
"""
