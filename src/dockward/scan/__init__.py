"""``dockward scan``: find Docker Engine APIs that answer without proper mutual TLS.

Layout, one concern per module:

* ``targets``  — target specs (hosts, addresses, CIDRs, ``host:port``, ``@file``) to endpoints;
* ``checks``   — the table of every finding the scanner can report (id, producer, severity,
  fix, CIS id), and the making of findings from evidence;
* ``findings`` — the typed results (``CheckId``, ``Evidence``, ``Finding``, ``ScanReport``);
* ``tlswire``  — TLS handshake messages seen by the client (Certificate, CertificateRequest);
* ``tlsinfo``  — the server certificate, nmap ``ssl-cert`` style, and its checks;
* ``http``     — a minimal read-only HTTP/1.1 client over an asyncio stream;
* ``probes``   — the network probes (TLS handshakes, plaintext and TLS ``GET /_ping``);
* ``verdicts`` — what the probes saw, judged: exposure state, TLS version and suite evidence;
* ``vulns``    — the table of known vulnerable engine and runc versions;
* ``audit``    — the authenticated posture audit (pure functions over fetched JSON);
* ``deep``     — cipher-suite enumeration per protocol version (``--deep``);
* ``engine``   — one endpoint's state machine and the concurrent scan of many;
* ``report``, ``sarif`` — terminal, JSON and SARIF 2.1.0 projections of a ``ScanReport``.

Every probe is read-only: ``GET``/``HEAD`` of ``/_ping``, ``/version``, ``/info``,
``/containers/json`` and container inspect. Nothing here creates, changes or starts anything.
"""
