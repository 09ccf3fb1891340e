"""jota-scheduler: assigns pending pods to nodes, as kube-scheduler does.

    queue.py        active / backoff / unschedulable pods (pure, clock injected)
    snapshot.py     PodInfo, NodeInfo, the cache of nodes and their pods
    framework.py    Status verdicts, extension points, one pod's cycle
    plugins/        one module per Filter/Score plugin (pure functions)
    preemption.py   PostFilter: evict lower-priority pods to make room
    config.py       KubeSchedulerConfiguration: enabled plugins, weights, args
    scheduler.py    the loop: informers -> queue -> cycle -> assume -> bind
    metrics.py      kube-scheduler's series (attempts, latency, pending pods)
    main.py         the `jota-scheduler` command
"""
