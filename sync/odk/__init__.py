"""ODK Central: a client for OData pulls and form deployment, session auth, and the deploy sequence."""

from sync.odk.auth import SessionAuth
from sync.odk.client import CentralClient
from sync.odk.deploy import CentralDeployment, DeployError, deploy_form
from sync.odk.errors import AlreadyExists, VersionAlreadyPublished
from sync.odk.odata import ODataPage

__all__ = [
    "AlreadyExists",
    "CentralClient",
    "CentralDeployment",
    "DeployError",
    "ODataPage",
    "SessionAuth",
    "VersionAlreadyPublished",
    "deploy_form",
]
