"""The partition table: every name netcheck plans for one Region per partition, against nodeadm and botocore.

Names only, no lookups (a guard fails any); tests/test_endpoints_netns.py resolves them through the
lab's own dnsmasq inside a namespace.
"""

from __future__ import annotations

from typing import Any

import pytest

from netcheck.settings import ConfigError, Settings, SiteProfile, profile_from_data
from probes import endpoints
from probes.endpoints import aws_targets, ecr_registry, install_region, partition_of

FEATURES = {"podIdentity": True, "irsa": True, "cloudwatch": True, "sessionManager": True}



@pytest.fixture(autouse=True)
def no_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests name real AWS hosts as strings only: any lookup or packet from them fails the test."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"test_endpoints tried network I/O: {args[:2]!r}")

    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "create_connection"):
        monkeypatch.setattr(socket, name, refuse)
    for method in ("connect", "connect_ex", "sendto", "send", "sendall"):
        monkeypatch.setattr(socket.socket, method, refuse)


def settings(region: str, credentials: str = "ssm", **aws: Any) -> Settings:
    spec: dict[str, Any] = {"cluster": {"region": region}, "credentials": credentials, "features": FEATURES}
    if aws:
        spec["aws"] = aws
    return Settings(SiteProfile.model_validate({"spec": spec}), "test")


def hosts(s: Settings) -> dict[str, str]:
    return {t.subject: t.host for t in aws_targets(s)}


# What nodeadm (aws/eks-hybrid @e5f42ca4) builds for each Region, spelled out by hand from its
# sources: manifest.go (assets host), ecr.go (registry), ssm/source.go (installer URL with the
# install Region, default us-west-2 in the commercial partition), partition.go (suffixes).
NODEADM: dict[str, dict[str, str]] = {
    "us-east-1": {
        "hybrid-assets": "hybrid-assets.eks.amazonaws.com",
        "ecr-dkr": "602401143452.dkr.ecr.us-east-1.amazonaws.com",
        "ssm-installer": "amazon-ssm-us-west-2.s3.us-west-2.amazonaws.com",
        "eks": "eks.us-east-1.amazonaws.com", "ssm": "ssm.us-east-1.amazonaws.com",
    },
    "cn-north-1": {
        "hybrid-assets": "eks-hybrid-assets.awsstatic.cn",
        "ecr-dkr": "918309763551.dkr.ecr.cn-north-1.amazonaws.com.cn",
        "ssm-installer": "amazon-ssm-cn-north-1.s3.cn-north-1.amazonaws.com.cn",
        "eks": "eks.cn-north-1.amazonaws.com.cn", "ssm": "ssm.cn-north-1.amazonaws.com.cn",
    },
    "us-gov-west-1": {
        "hybrid-assets": "hybrid-assets.eks.amazonaws.com",
        "ecr-dkr": "013241004608.dkr.ecr.us-gov-west-1.amazonaws.com",
        "ssm-installer": "amazon-ssm-us-gov-west-1.s3.us-gov-west-1.amazonaws.com",
        "eks": "eks.us-gov-west-1.amazonaws.com", "ssm": "ssm.us-gov-west-1.amazonaws.com",
    },
    "eusc-de-east-1": {
        "hybrid-assets": "hybrid-assets.eks.amazonaws.com",
        "ecr-dkr": "877088126301.dkr.ecr.eusc-de-east-1.amazonaws.eu",
        "ssm-installer": "amazon-ssm-eusc-de-east-1.s3.eusc-de-east-1.amazonaws.eu",
        "eks": "eks.eusc-de-east-1.amazonaws.eu", "ssm": "ssm.eusc-de-east-1.amazonaws.eu",
    },
}
PARTITION_IDS = {"us-east-1": "aws", "cn-north-1": "aws-cn", "us-gov-west-1": "aws-us-gov",
                 "eusc-de-east-1": "aws-eusc"}


@pytest.mark.parametrize("region", list(NODEADM))
def test_names_match_nodeadm(region: str) -> None:
    planned = hosts(settings(region))
    assert partition_of(region).id == PARTITION_IDS[region]
    for subject, host in NODEADM[region].items():
        assert planned[subject] == host, subject


@pytest.mark.parametrize("region", list(NODEADM))
def test_service_names_match_botocore(region: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK-resolved names (nodeadm resolves ssm/rolesanywhere/eks through the SDK's endpoint rules)."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # conftest points the SDK at loopback; nothing is sent here
    botocore_session = pytest.importorskip("botocore.session")
    session = botocore_session.get_session()
    services = {"eks": "eks", "ecr-api": "ecr", "ssm": "ssm", "sts": "sts", "logs": "logs", "eks-auth": "eks-auth",
                "rolesanywhere": "rolesanywhere"}
    planned = hosts(settings(region)) | hosts(settings(region, "iam-roles-anywhere"))
    for subject, service in services.items():
        client = session.create_client(service, region_name=region, aws_access_key_id="x", aws_secret_access_key="y")
        assert planned[subject] == client.meta.endpoint_url.removeprefix("https://"), subject


def test_china_plans_only_china_names() -> None:
    planned = hosts(settings("cn-north-1"))
    assert planned["hybrid-assets"] == "eks-hybrid-assets.awsstatic.cn"
    assert planned["eks-auth"] == "eks-auth.cn-north-1.api.amazonwebservices.com.cn"  # the dual-stack suffix
    others = [h for k, h in planned.items() if k not in ("hybrid-assets", "eks-auth")]
    assert len(others) == 8 and all(h.endswith(".amazonaws.com.cn") for h in others), others


def test_eusc_region_is_accepted_and_bad_regions_are_not() -> None:
    s = profile_from_data({"spec": {"cluster": {"region": "eusc-de-east-1"}}}, "p.yaml")
    assert s.spec.cluster.region == "eusc-de-east-1"
    for bad in ("eusc", "europe-1", "US-EAST-1", "xyzw-de-east-1"):
        with pytest.raises(ConfigError, match=r"not an AWS Region code|not a Region of"):
            profile_from_data({"spec": {"cluster": {"region": bad}}}, "p.yaml")


def test_install_region_override_and_domain_override() -> None:
    s = settings("eu-west-1", installRegion="eu-west-1")
    assert install_region(s) == "eu-west-1"
    assert hosts(s)["ssm-installer"] == "amazon-ssm-eu-west-1.s3.eu-west-1.amazonaws.com"
    lab = hosts(settings("us-west-2", domain="demo.internal", ecrAccount="123456789012"))
    assert lab["hybrid-assets"] == "hybrid-assets.eks.demo.internal"
    assert lab["ecr-dkr"] == "123456789012.dkr.ecr.us-west-2.demo.internal"
    assert lab["eks-auth"] == "eks-auth.us-west-2.demo.internal"


def test_ecr_registry_table() -> None:
    assert ecr_registry("us-west-2") == ("602401143452", "us-west-2")
    assert ecr_registry("af-south-1") == ("877085696533", "af-south-1")  # opt-in Region
    assert ecr_registry("cn-northwest-1") == ("961992271922", "cn-northwest-1")
    assert ecr_registry("us-gov-east-1") == ("151742754352", "us-gov-east-1")
    assert ecr_registry("xx-newregion-9") == ("602401143452", "us-west-2")  # nodeadm's fallback
    assert set(endpoints.ECR_ACCOUNTS).isdisjoint(endpoints.COMMERCIAL_ECR_REGIONS)
