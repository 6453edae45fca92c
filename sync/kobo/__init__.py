"""KoboToolbox (KPI v2): a client for submissions, assets, imports, deployments and media; form deployment."""

from sync.kobo.client import KoboClient
from sync.kobo.data import KoboPage, submission_time
from sync.kobo.deploy import KoboDeployment, deploy_form

__all__ = ["KoboClient", "KoboDeployment", "KoboPage", "deploy_form", "submission_time"]
