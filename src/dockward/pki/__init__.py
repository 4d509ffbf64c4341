"""The certificate authority and the files it keeps.

``ca`` (profiles, keys, PEM files, CRL signing), ``state`` (the state-directory layout and the
first-run bootstrap), ``index`` (the SQLite index of issued certificates), ``crl`` (the CRL file
and the gateway's reader of it), ``lifecycle`` (issue, revoke, renew, rotate, status) and
``handoff`` (client bundles and docker contexts).

What the gateway uses is re-exported here and kept stable: ``StateDir`` (``ca_bundle``,
``crl_path``, ``server_cert``, ``server_key``), ``load_revocation_list`` with ``RevocationList``
and its ``RevocationListError`` family, and ``check_key_permissions``.
"""

from dockward.pki.ca import KeyPermissionError, check_key_permissions
from dockward.pki.crl import (
    CRLExpiredError,
    CRLSignatureError,
    IncompleteCRLError,
    MalformedCRLError,
    MissingCRLError,
    RevocationList,
    RevocationListError,
    load_revocation_list,
)
from dockward.pki.state import StateDir

__all__ = [
    "CRLExpiredError",
    "CRLSignatureError",
    "IncompleteCRLError",
    "KeyPermissionError",
    "MalformedCRLError",
    "MissingCRLError",
    "RevocationList",
    "RevocationListError",
    "StateDir",
    "check_key_permissions",
    "load_revocation_list",
]
